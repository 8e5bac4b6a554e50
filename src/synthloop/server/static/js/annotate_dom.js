// Small DOM helpers for the annotate page. Data only ever goes in as text (textContent or text
// nodes), never as HTML.

// An element with attributes and children (strings become text nodes).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// The option a number key picks: 1-9 are the first nine, 0 the tenth; null for any other key
// or when a modifier is held (Ctrl+1 and friends belong to the browser).
export function digitIndex(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  if (!/^[0-9]$/.test(event.key)) return null;
  return event.key === "0" ? 9 : Number(event.key) - 1;
}

// Whether keys typed here are text, so the page's shortcuts must leave them alone.
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["button", "checkbox", "radio", "submit"].includes(target.type);
}

// Move focus among `items` with the arrow keys (a radio group's usual keys); true if handled.
export function arrowFocus(event, items) {
  const at = items.indexOf(document.activeElement);
  if (at < 0 || event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return false;
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
  if (step === undefined) return false;
  items[(at + step + items.length) % items.length].focus();
  return true;
}
