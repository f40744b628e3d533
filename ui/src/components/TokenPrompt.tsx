/** Shown when the API answers 401: a field for the bearer token, kept in localStorage. */
import { useState, type FormEvent } from "react";

interface Props {
  initial: string;
  onSave: (token: string) => void;
}

export default function TokenPrompt({ initial, onSave }: Props) {
  const [value, setValue] = useState(initial);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSave(value.trim());
  };
  return (
    <form className="token-prompt" onSubmit={submit} data-testid="token-prompt">
      <label htmlFor="api-token">
        <strong>This server needs an access token.</strong>{" "}
        {initial ? "The saved token was rejected; enter another." : "Enter the token you were given."}
      </label>
      <input
        id="api-token"
        type="password"
        autoComplete="off"
        placeholder="Bearer token"
        value={value}
        onChange={(e) => setValue(e.target.value)}
      />
      <button type="submit" className="btn primary small" disabled={!value.trim()}>
        Save token
      </button>
    </form>
  );
}
