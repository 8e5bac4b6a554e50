// A word-level diff: what an annotator's correction changed in the original text.

// Words (letters, digits, _ runs), single punctuation marks and whitespace runs, so changing
// "late." to "late!" shows one mark changed, not a whole word.
export function tokens(text) {
  return text.match(/\s+|[\p{L}\p{N}\p{M}_]+|[^\s\p{L}\p{N}\p{M}_]/gu) ?? [];
}

// Above this many token pairs the middle of an edit is shown as replaced wholesale: the exact
// table would take too long to build on every keystroke.
const LIMIT = 4_000_000;

// [{op: "=" | "-" | "+", text}], the text kept, removed and added, in reading order.
export function diffWords(before, after) {
  const a = tokens(before);
  const b = tokens(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  const parts = [
    ["=", a.slice(0, start)],
    ...middle(a.slice(start, endA), b.slice(start, endB)),
    ["=", a.slice(endA)],
  ];
  return merge(parts);
}

// The longest common subsequence of two token lists, walked into runs of kept/removed/added.
function middle(x, y) {
  if (x.length === 0 || y.length === 0 || x.length * y.length > LIMIT) {
    return [["-", x], ["+", y]];
  }
  const width = y.length + 1;
  const table = new Uint32Array((x.length + 1) * width);
  for (let i = x.length - 1; i >= 0; i -= 1) {
    for (let j = y.length - 1; j >= 0; j -= 1) {
      table[i * width + j] =
        x[i] === y[j]
          ? table[(i + 1) * width + j + 1] + 1
          : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    if (x[i] === y[j]) {
      out.push(["=", [x[i]]]);
      i += 1;
      j += 1;
    } else if (table[(i + 1) * width + j] >= table[i * width + j + 1]) {
      out.push(["-", [x[i]]]);
      i += 1;
    } else {
      out.push(["+", [y[j]]]);
      j += 1;
    }
  }
  out.push(["-", x.slice(i)], ["+", y.slice(j)]);
  return out;
}

// Join neighbouring runs of the same kind; a removal comes before the addition replacing it.
function merge(parts) {
  const out = [];
  let pending = { "-": "", "+": "" };
  const flush = () => {
    for (const op of ["-", "+"]) if (pending[op]) out.push({ op, text: pending[op] });
    pending = { "-": "", "+": "" };
  };
  for (const [op, list] of parts) {
    const text = list.join("");
    if (!text) continue;
    if (op === "=") {
      flush();
      const last = out.at(-1);
      if (last?.op === "=") last.text += text;
      else out.push({ op, text });
    } else {
      pending[op] += text;
    }
  }
  flush();
  return out;
}
