/** Follow a job live: Server-Sent Events (`progress`, `end`), falling back to polling. */
import { useEffect, useRef, useState } from "react";
import { api } from "./api";
import { isTerminal, type Job } from "./types";

const POLL_MS = 1500;

export function useJobEvents(job: Job | null, onJob: (job: Job) => void): boolean {
  const [live, setLive] = useState(false);
  const callback = useRef(onJob);
  callback.current = onJob;
  const id = job?.id ?? null;
  const terminal = job ? isTerminal(job.status) : true;

  useEffect(() => {
    if (!id || terminal) {
      setLive(false);
      return undefined;
    }
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let source: EventSource | null = null;

    const poll = () => {
      if (closed) return;
      api
        .job(id)
        .then((j) => {
          if (closed) return;
          callback.current(j);
          if (!isTerminal(j.status)) timer = setTimeout(poll, POLL_MS);
        })
        .catch(() => {
          if (!closed) timer = setTimeout(poll, POLL_MS * 2);
        });
    };

    const handle = (e: MessageEvent) => {
      try {
        const j = JSON.parse(e.data) as Job;
        if (!closed) callback.current(j);
      } catch {
        /* a malformed event: the next one or the end event will do */
      }
    };

    if (typeof EventSource === "undefined") {
      poll();
    } else {
      source = new EventSource(api.eventsUrl(id));
      source.onopen = () => setLive(true);
      source.addEventListener("progress", handle as EventListener);
      source.addEventListener("end", ((e: MessageEvent) => {
        handle(e);
        source?.close();
        setLive(false);
        // The end event carries the final job; fetch once more in case it was missed.
        api.job(id).then((j) => !closed && callback.current(j)).catch(() => undefined);
      }) as EventListener);
      source.onerror = () => {
        // The stream broke (proxy, 401, server restart): poll instead of reconnecting blindly.
        source?.close();
        setLive(false);
        poll();
      };
    }
    return () => {
      closed = true;
      source?.close();
      if (timer) clearTimeout(timer);
    };
  }, [id, terminal]);

  return live;
}
