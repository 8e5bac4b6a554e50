// The dashboard refreshes its counts and its chart from the page's JSON every few seconds while
// it is visible. The server places every bar; this only copies numbers and attributes over.
import { api, say } from "/static/js/api.js";

const root = document.getElementById("dashboard");
const SVG = "http://www.w3.org/2000/svg";

function setText(selector, value) {
  for (const el of root.querySelectorAll(selector)) el.textContent = String(value);
}

function svg(tag, attributes, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

function showProgress(data) {
  setText('[data-live="total"]', data.total);
  setText('[data-live="submitted"]', data.submitted);
  for (const s of data.segments) {
    setText(`[data-live-count="${CSS.escape(s.status)}"]`, s.count);
    setText(`[data-live-share="${CSS.escape(s.status)}"]`, `${Math.round(s.share)}%`);
    const rect = root.querySelector(`[data-segment="${CSS.escape(s.status)}"]`);
    if (!rect) continue;
    rect.setAttribute("x", s.x);
    rect.setAttribute("width", s.width);
    rect.querySelector("title").textContent = `${s.status}: ${s.count}`;
  }
}

function showThroughput(chart) {
  setText('[data-live="unit"]', chart.unit);
  setText('[data-live="window-total"]', chart.total);
  setText('[data-live="peak"]', chart.max);
  const group = document.getElementById("throughput-bars");
  const height = Number(group.closest("svg").viewBox.baseVal.height) - 24;
  const bars = chart.bars.flatMap((b) => {
    const rect = svg("rect", { class: "bar", x: b.x, y: b.y, width: b.width, height: b.height });
    rect.append(svg("title", {}, `${b.label} UTC: ${b.count}`));
    if (!b.tick) return [rect];
    return [rect, svg("text", { class: "tick", x: b.x, y: height + 18 }, b.tick_label)];
  });
  group.replaceChildren(...bars);
}

async function refresh() {
  if (document.hidden) return;
  try {
    const data = await api("GET", root.dataset.source);
    showProgress(data);
    showThroughput(data.throughput);
    say("");
  } catch (error) {
    say(`Could not refresh the numbers: ${error.message}`, "error");
  }
}

if (root) {
  setInterval(refresh, Number(root.dataset.refreshSeconds || 5) * 1000);
  document.body.dataset.ready = "dashboard";
}
