// fetch() for our own API from a logged-in page: sends the session's CSRF token (from the
// page's <meta name="csrf-token">) and turns the API's one error shape into an Error.
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.problems = body?.error?.problems ?? [];
  }
}

export async function api(method, url, body) {
  const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Put `message` in the page's status line (role=status, read out by screen readers).
export function say(message, kind = "info") {
  const line = document.getElementById("status-line");
  if (!line) return;
  line.textContent = message;
  line.dataset.kind = kind;
}
