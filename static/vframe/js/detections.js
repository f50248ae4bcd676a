/**
 * Media page: the boxes detection features stored for this image or keyframe
 * (GET search/detections/media/<id>/), drawn over the picture with their label and
 * score, and listed below it. Nothing is shown when none are stored.
 */
(function () {
  "use strict";
  const { api, h, $ } = window.VF;
  const MAX_BOXES = 30;

  async function show() {
    const layout = $(".media-layout[data-media-id]");
    const img = $(".media-full img");
    if (!layout || !img) return;
    let res;
    try {
      res = await api("search/detections/media/" + layout.dataset.mediaId + "/");
    } catch (err) {
      return; // the picture matters more than its boxes: leave it as it is
    }
    if (!res.items.length) return;
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    const wrap = h("div", { class: "media-detections-wrap", style: "position:relative;display:inline-block;max-width:100%;line-height:0" });
    img.style.cssText = "display:block;max-width:100%;height:auto";
    img.replaceWith(wrap);
    const boxes = h("div", { class: "detection-boxes", "aria-hidden": "true" });
    wrap.append(img, boxes);
    const list = h("ul", { class: "detections", id: "media-detections" }, h("li", { class: "muted detections-model" }, "Detections stored:"));
    for (const d of res.items.slice(0, MAX_BOXES)) {
      const [x1, y1, x2, y2] = d.box;
      boxes.append(
        h("div", {
          class: "box",
          style: `left:${(x1 * 100).toFixed(2)}%;top:${(y1 * 100).toFixed(2)}%;width:${((x2 - x1) * 100).toFixed(2)}%;height:${((y2 - y1) * 100).toFixed(2)}%`,
          "data-label": d.label + " " + d.score.toFixed(2),
        })
      );
      list.append(h("li", null, d.label + " ", h("span", { class: "muted" }, d.score.toFixed(2) + " · " + d.model)));
    }
    if (res.items.length > MAX_BOXES) list.append(h("li", { class: "muted" }, "and " + (res.items.length - MAX_BOXES) + " weaker ones"));
    wrap.parentElement.after(list);
  }

  show();
})();
