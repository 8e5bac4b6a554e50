// The last submission of this tab, per dataset, so U can reopen it while its lease lasts; and
// a message carried across the reload that follows a submission.
const lastKey = (dataset) => `synthloop:last:${dataset}`;
const FLASH = "synthloop:flash";

export function remember(dataset, entry) {
  sessionStorage.setItem(lastKey(dataset), JSON.stringify(entry));
}

export function recall(dataset) {
  try {
    return JSON.parse(sessionStorage.getItem(lastKey(dataset)) ?? "null");
  } catch {
    return null; // something else wrote the key: as if nothing was submitted
  }
}

export function flash(message) {
  sessionStorage.setItem(FLASH, message);
}

export function takeFlash() {
  const message = sessionStorage.getItem(FLASH);
  sessionStorage.removeItem(FLASH);
  return message;
}
