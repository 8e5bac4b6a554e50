// A ranking, best first: drag the items, or focus one and move it with Alt+Up/Down or a number
// (its new place). The order on screen becomes the answer once the annotator has moved an item
// or kept the order, so an untouched default order is never submitted by accident.
import { digitIndex } from "./annotate_dom.js";
import { say } from "./api.js";

export function rankingWidget(card, spec, changed) {
  const list = card.querySelector(".ranking");
  const items = () => [...list.querySelectorAll(".rank-item")];
  const label = (item) => spec.options[Number(item.dataset.index)];
  let touched = spec.source === "response" || spec.source === "suggestion";
  let dragged = null;

  function touch(message) {
    touched = true;
    card.classList.add("ranked");
    items().forEach((item, i) => {
      item.querySelector(".rank-pos").textContent = String(i + 1);
    });
    if (message) say(message);
    changed();
  }

  function move(item, to) {
    const all = items();
    const target = Math.max(0, Math.min(all.length - 1, to));
    item.remove();
    list.insertBefore(item, items()[target] ?? null);
    item.focus();
    touch(`${label(item)}: place ${target + 1} of ${all.length}`);
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-move]");
    if (!button) return;
    const item = button.closest(".rank-item");
    move(item, items().indexOf(item) + Number(button.dataset.move));
  });
  card.querySelector("[data-keep]")?.addEventListener("click", () => touch("Order kept"));
  list.addEventListener("dragstart", (event) => {
    dragged = event.target.closest(".rank-item");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", label(dragged));
    dragged.classList.add("dragging");
  });
  list.addEventListener("dragover", (event) => {
    const over = event.target.closest(".rank-item");
    if (!dragged || !over) return;
    event.preventDefault();
    if (over === dragged) return;
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener("drop", (event) => {
    if (!dragged) return;
    event.preventDefault();
    touch(`${label(dragged)}: place ${items().indexOf(dragged) + 1} of ${items().length}`);
  });
  list.addEventListener("dragend", () => {
    dragged?.classList.remove("dragging");
    dragged = null;
  });
  if (touched) card.classList.add("ranked");

  return {
    value() {
      return touched ? items().map(label) : undefined;
    },
    key(event) {
      const all = items();
      const at = all.indexOf(document.activeElement);
      const digit = digitIndex(event);
      if (at < 0) {
        // Nothing focused in the list yet: a number focuses that place.
        if (digit === null || digit >= all.length) return false;
        all[digit].focus();
        return true;
      }
      if (digit !== null) {
        if (digit < all.length) move(all[at], digit);
        return true;
      }
      const step = { ArrowUp: -1, ArrowDown: 1 }[event.key];
      if (step === undefined || event.ctrlKey || event.metaKey || event.shiftKey) return false;
      if (event.altKey) move(all[at], at + step);
      else all[Math.max(0, Math.min(all.length - 1, at + step))].focus();
      return true;
    },
    focus() {
      items()[0]?.focus();
    },
  };
}
