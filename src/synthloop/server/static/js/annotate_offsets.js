// Character offsets as the store counts them. The server checks spans against Python strings,
// which count code points; the DOM counts UTF-16 units, in which an emoji (an astral character)
// is two. Spans are kept in code points and converted only to touch the DOM.

// For each code point boundary of `text`, its UTF-16 offset: at[i] is where code point i
// starts, at[length] the end of the text.
export function boundaries(text) {
  const at = [0];
  let unit = 0;
  for (const char of text) {
    unit += char.length;
    at.push(unit);
  }
  return at;
}

// The code point offset at UTF-16 offset `unit` (inside a surrogate pair: the pair's start).
export function toCodePoint(at, unit) {
  let low = 0;
  let high = at.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (at[mid] <= unit) low = mid;
    else high = mid - 1;
  }
  return low;
}
