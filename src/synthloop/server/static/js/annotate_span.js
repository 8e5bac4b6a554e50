// Span labelling: select a passage of the field's text (mouse, or Shift+arrows on the focused
// text) and press a label's number or click the label. Spans are {start, end, label} with
// offsets in code points, as the server counts them (annotate_offsets.js converts).
//
// The text is rebuilt from the JSON data (exact, \r included), split at span edges into marks;
// it holds nothing but the field's text, so a DOM position maps to an offset by counting the
// text before it. A zero-width caret element shows where the keyboard cursor is.
import { digitIndex, el } from "./annotate_dom.js";
import { boundaries, toCodePoint } from "./annotate_offsets.js";
import { say } from "./api.js";

export function spanWidget(card, spec, changed) {
  const surface = card.querySelector(".span-text");
  const list = card.querySelector(".span-list");
  const text = spec.text ?? "";
  const at = boundaries(text);
  const size = at.length - 1;
  const char = (i) => text.slice(at[i], at[i + 1]);
  let spans = Array.isArray(spec.value) ? spec.value.map((s) => ({ ...s })) : [];
  let anchor = 0; // the selection, in code points: from anchor to head
  let head = 0;
  let selecting = false; // a mouse selection is under way: let the browser draw it

  // Redraw the text (marks, caret, selection). The list is redrawn only when the spans change:
  // redrawing it under a pointer would swallow the click on its remove button.
  function render() {
    const showCaret = document.activeElement === surface && anchor === head;
    surface.replaceChildren(...segments(showCaret));
    if (anchor !== head) {
      const [a, b] = [point(anchor), point(head)];
      document.getSelection().setBaseAndExtent(a[0], a[1], b[0], b[1]);
    }
  }

  function segments(showCaret) {
    const edges = new Set([0, size]);
    spans.forEach((s) => edges.add(s.start).add(s.end));
    if (showCaret) edges.add(head);
    const sorted = [...edges].filter((e) => e >= 0 && e <= size).sort((x, y) => x - y);
    const out = [];
    sorted.forEach((start, n) => {
      if (showCaret && start === head) out.push(el("span", { class: "caret", "aria-hidden": "true" }));
      const end = sorted[n + 1];
      if (end === undefined || end === start) return;
      const piece = text.slice(at[start], at[end]);
      const covering = spans.filter((s) => s.start <= start && s.end >= end);
      if (covering.length === 0) {
        out.push(document.createTextNode(piece));
        return;
      }
      const last = covering.at(-1);
      const ending = covering.filter((s) => s.end === end).map((s) => s.label);
      out.push(
        el(
          "mark",
          {
            class: `hl lab-${spec.options.indexOf(last.label) % 8}${covering.length > 1 ? " overlap" : ""}`,
            title: covering.map((s) => s.label).join(", "),
            "data-end-labels": ending.length ? ending.join(", ") : null,
          },
          piece,
        ),
      );
    });
    return out;
  }

  function update() {
    render();
    renderList();
    changed();
  }

  function renderList() {
    const sorted = [...spans].sort((x, y) => x.start - y.start || x.end - y.end);
    list.replaceChildren(
      ...sorted.map((s) => {
        const excerpt = text.slice(at[s.start], at[s.end]);
        const shown = excerpt.length > 60 ? `${excerpt.slice(0, 57)}…` : excerpt;
        const remove = el(
          "button",
          { type: "button", class: "remove", "aria-label": `Remove ${s.label}: ${shown}` },
          "×",
        );
        remove.addEventListener("click", () => {
          spans = spans.filter((x) => x !== s);
          update();
          surface.focus();
        });
        const label = el("span", { class: `span-tag lab-${spec.options.indexOf(s.label) % 8}` }, s.label);
        return el("li", { "data-testid": `span-item-${spec.name}` }, label, " ", el("q", {}, shown), " ", remove);
      }),
    );
  }

  // DOM point (text node, UTF-16 offset) of code point offset `cp`.
  function point(cp) {
    const unit = at[cp];
    const walker = document.createTreeWalker(surface, NodeFilter.SHOW_TEXT);
    let seen = 0;
    let last = null;
    while (walker.nextNode()) {
      last = walker.currentNode;
      if (seen + last.length >= unit) return [last, unit - seen];
      seen += last.length;
    }
    return last ? [last, last.length] : [surface, 0];
  }

  // Code point offset of a DOM point, or null when it lies outside the text.
  function offset(node, nodeOffset) {
    if (!surface.contains(node)) return null;
    const range = document.createRange();
    range.setStart(surface, 0);
    range.setEnd(node, nodeOffset);
    return toCodePoint(at, range.toString().length);
  }

  function readSelection() {
    const selection = document.getSelection();
    if (!selection || selection.rangeCount === 0) return;
    const a = offset(selection.anchorNode, selection.anchorOffset);
    const b = offset(selection.focusNode, selection.focusOffset);
    if (a === null || b === null) return;
    anchor = a;
    head = b;
  }

  function label(i) {
    if (i === null || i >= spec.options.length) return false;
    let start = Math.min(anchor, head);
    let end = Math.max(anchor, head);
    while (start < end && /\s/u.test(char(start))) start += 1; // a label never starts or
    while (end > start && /\s/u.test(char(end - 1))) end -= 1; // ends on a space
    if (start === end) {
      say("Select some text first: Shift+arrows on the text, or the mouse.", "error");
      return true;
    }
    const name = spec.options[i];
    if (!spans.some((s) => s.start === start && s.end === end && s.label === name)) {
      spans.push({ start, end, label: name });
    }
    anchor = head = end;
    update();
    say(`Labelled “${text.slice(at[start], at[end])}” as ${name}`);
    return true;
  }

  function removeAtCursor() {
    const lo = Math.min(anchor, head);
    const hi = Math.max(anchor, head);
    const hit = (s) => (lo === hi ? s.start <= lo && lo < s.end : s.start < hi && lo < s.end);
    const before = spans.length;
    spans = spans.filter((s) => !hit(s));
    if (spans.length !== before) update();
  }

  const isWord = (i) => /[\p{L}\p{N}\p{M}_]/u.test(char(i));
  const lineStart = (i) => {
    while (i > 0 && char(i - 1) !== "\n") i -= 1;
    return i;
  };
  const lineEnd = (i) => {
    while (i < size && char(i) !== "\n") i += 1;
    return i;
  };

  // Where a cursor key takes the head; null for keys that do not move it.
  function target(event) {
    const word = event.ctrlKey || event.metaKey;
    let i = head;
    switch (event.key) {
      case "ArrowRight":
        if (!word) return Math.min(size, i + 1);
        while (i < size && !isWord(i)) i += 1;
        while (i < size && isWord(i)) i += 1;
        return i;
      case "ArrowLeft":
        if (!word) return Math.max(0, i - 1);
        while (i > 0 && !isWord(i - 1)) i -= 1;
        while (i > 0 && isWord(i - 1)) i -= 1;
        return i;
      case "Home":
        return word ? 0 : lineStart(i);
      case "End":
        return word ? size : lineEnd(i);
      case "ArrowUp":
      case "ArrowDown":
        return vertical(i, event.key === "ArrowUp" ? -1 : 1);
      default:
        return null;
    }
  }

  // The same column on the line above or below (by characters, not pixels).
  function vertical(i, direction) {
    const start = lineStart(i);
    const column = i - start;
    if (direction < 0) {
      if (start === 0) return 0;
      const above = lineStart(start - 1);
      return Math.min(above + column, start - 1);
    }
    const end = lineEnd(i);
    if (end === size) return size;
    return Math.min(end + 1 + column, lineEnd(end + 1));
  }

  function cursorKey(event) {
    if (event.altKey) return false;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "a") {
      anchor = 0;
      head = size;
      render();
      return true;
    }
    if (event.key === "Escape" && anchor !== head) {
      anchor = head;
      document.getSelection().removeAllRanges();
      render();
      return true;
    }
    if (event.key === "Delete" || event.key === "Backspace") {
      removeAtCursor();
      return true;
    }
    const to = target(event);
    if (to === null) return false;
    const sideways = event.key === "ArrowLeft" || event.key === "ArrowRight";
    if (event.shiftKey) head = to;
    else if (anchor !== head && sideways && !(event.ctrlKey || event.metaKey)) {
      // Like a text field: Left or Right collapses a selection to its edge on that side.
      const edge = event.key === "ArrowLeft" ? Math.min : Math.max;
      anchor = head = edge(anchor, head);
    } else anchor = head = to;
    if (!event.shiftKey) document.getSelection().removeAllRanges();
    render();
    return true;
  }

  surface.addEventListener("pointerdown", () => {
    selecting = true;
  });
  document.addEventListener("pointerup", () => {
    if (!selecting) return;
    selecting = false;
    readSelection();
    render();
  });
  surface.addEventListener("focus", () => {
    if (!selecting) render();
  });
  surface.addEventListener("blur", () => {
    if (!selecting && anchor === head) render(); // take the caret away
  });
  card.querySelectorAll(".span-label").forEach((button) => {
    // Keep the text's selection: a mousedown on a button would otherwise clear it.
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => label(Number(button.dataset.index)));
  });
  render();
  renderList();

  return {
    value() {
      return [...spans].sort((x, y) => x.start - y.start || x.end - y.end);
    },
    key(event) {
      const digit = digitIndex(event);
      if (digit !== null) return label(digit);
      return document.activeElement === surface ? cursorKey(event) : false;
    },
    focus() {
      surface.focus();
    },
  };
}
