/* Collections page: list with counts (active, archived or all), create one. */
(function () {
  "use strict";
  const { api, h, $, showError, flash, formatDate, current } = window.VF;
  const body = $("#collections-body");
  const filter = $("#archived-filter");
  const more = $("#more-button");
  const listError = $("#list-error");
  const PAGE = 100;
  let offset = 0;

  function row(c) {
    const chosen = current.get();
    const isCurrent = chosen && chosen.id === c.id;
    const use = h("button", { type: "button", class: "small", disabled: c.archived || isCurrent }, isCurrent ? "Current" : "Use for search");
    use.addEventListener("click", () => {
      current.set(c);
      flash("“" + c.title + "” is now the current collection for search results.");
      reload();
    });
    return h(
      "tr",
      null,
      h("td", null, h("a", { href: "/collections/" + c.id + "/" }, c.title), c.archived ? h("span", { class: "badge" }, "archived") : null),
      h("td", { class: "num", "data-label": "items" }, String(c.item_count)),
      h("td", null, c.username || "—"),
      h("td", null, h("time", { datetime: c.updated_at }, formatDate(c.updated_at))),
      h("td", null, use, " ", h("a", { class: "button small", href: "/api/v1/collection/" + c.id + "/export/", download: "" }, "Export"))
    );
  }

  async function load(append) {
    showError(listError, null);
    try {
      const res = await api("collection/", { query: { archived: filter.value, offset, limit: PAGE, sort: "date", order: "desc" } });
      const rows = res.results.map(row);
      if (append) body.append(...rows);
      else body.replaceChildren(...rows);
      if (!res.count) body.replaceChildren(h("tr", null, h("td", { colspan: 5, class: "muted" }, "No collections here yet.")));
      offset += res.results.length;
      more.hidden = offset >= res.count;
    } catch (err) {
      body.replaceChildren();
      showError(listError, err);
    }
  }

  function reload() {
    offset = 0;
    load(false);
  }

  filter.addEventListener("change", reload);
  more.addEventListener("click", () => load(true));
  $("#create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorNode = $("#create-error");
    showError(errorNode, null);
    try {
      const created = await api("collection/", { method: "POST", json: { title: $("#create-title").value } });
      location.href = "/collections/" + created.id + "/";
    } catch (err) {
      showError(errorNode, "Could not create the collection: " + err.message);
    }
  });
  reload();
})();
