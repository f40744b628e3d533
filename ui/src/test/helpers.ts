import { vi } from "vitest";
import optionsJson from "./fixtures/options.json";
import type { Options } from "../lib/types";

/** `GET /api/options` as the API answered it (saved from a live `sme serve`). */
export const OPTIONS = optionsJson as unknown as Options;

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Replace fetch by a mock answering with `handler(url, init)`. */
export function mockFetch(handler: (url: string, init?: RequestInit) => Response | Promise<Response>) {
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) =>
    handler(typeof input === "string" ? input : input.toString(), init),
  );
  vi.stubGlobal("fetch", fn);
  return fn;
}
