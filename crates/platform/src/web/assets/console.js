// The nbmodem web console (docs/console.md): one page whose hash routes show the devices, a
// device, the products, DFOTA and the other stand-ins of the platform serving it. Everything is
// read and changed through the JSON API (docs/api.md) with the session cookie set at login;
// `GET /api/events` (server-sent events) says when something was committed, and the page on
// show fetches what it shows again. Text from the platform is only ever set as text, never as
// HTML.
"use strict";

// ---- Helpers: the API, elements, formats ----------------------------------------------------

/** An API call; the answer's JSON, or an Error with the API's `error` text. A 401 shows the login. */
async function api(method, path, body, contentType) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = contentType || "application/json";
    options.body = contentType ? body : JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (response.status === 401 && path !== "/api/login") {
    showLogin();
  }
  if (!response.ok) {
    const why = (json && json.error) || response.statusText || "error";
    const error = new Error(why);
    error.status = response.status;
    throw error;
  }
  return json;
}

/**
 * An element: `h("td", {class: "x"}, "text", child…)`; attributes starting with `on` are listeners.
 * Children may come in arrays, nested to any depth (a section of a list of tables).
 */
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A table with a header row and one row per item. */
function table(id, headings, rows) {
  return h("table", { id },
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))),
    h("tbody", {}, rows));
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

function yesNo(value) {
  return h("span", { class: value ? "yes" : "no" }, value ? "yes" : "no");
}

/** A form's message line: an error in red, or a result. */
function say(element, text, isError) {
  element.textContent = text;
  element.className = isError ? "error" : "ok";
}

/** A section with a heading. */
function section(title, ...content) {
  return h("section", { class: "card" }, h("h2", {}, title), content);
}

/** Reads a JSON textarea; throws a clear error. */
function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${e.message}`);
  }
}

/** Runs `action` for a form's submit; its error (or result) goes to `message`. */
function onSubmit(form, message, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await action();
      say(message, result || "done", false);
    } catch (e) {
      say(message, e.message, true);
    }
  });
  return form;
}

// ---- State, routing and live events --------------------------------------------------------

const main = document.getElementById("main");
let flavour = localStorage.getItem("flavour") || "iot";
let events = null;
/** What the page on show does with an event (none: nothing). */
let onEvent = null;
/** A refresh asked for by events, at most one at a time. */
let refreshTimer = null;

function showLogin() {
  stopEvents();
  shown = null;
  document.getElementById("bar").hidden = true;
  const form = document.getElementById("login-page").content.cloneNode(true);
  main.replaceChildren(form);
  const login = document.getElementById("login");
  login.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value;
    try {
      await api("POST", "/api/login", { token });
      startEvents();
      route();
    } catch (e) {
      say(document.getElementById("login-error"), e.message, true);
    }
  });
}

function startEvents() {
  stopEvents();
  const live = document.getElementById("live");
  events = new EventSource("/api/events");
  events.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  events.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    // A page that fell behind refetches whatever it shows.
    if (onEvent && (event.kind === "lagged" || onEvent(event))) scheduleRefresh();
  };
}

function stopEvents() {
  if (events) events.close();
  events = null;
}

function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; route(true); }, 150);
}

/** The hash of the page on show, and the render under way (renders never overlap). */
let shown = null;
let rendering = Promise.resolve();

/**
 * Shows the page the hash names, after any render under way; `live` when an event asked for it:
 * then the page on show only fetches its data again, keeping its forms (a page not on show yet
 * is built whole all the same).
 */
function route(live) {
  rendering = rendering.then(() => render(live && shown === location.hash));
  return rendering;
}

async function render(live) {
  shown = location.hash;
  const [, page = "devices", ...rest] = location.hash.split("/");
  document.getElementById("bar").hidden = false;
  document.getElementById("flavour").value = flavour;
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("here", link.id === `nav-${page}`);
  }
  const pages = { devices: devicesPage, device: devicePage, products: productsPage, fota: fotaPage, standins: standinsPage };
  try {
    await (pages[page] || devicesPage)(live, ...rest.map(decodeURIComponent));
  } catch (e) {
    if (e.status !== 401) main.replaceChildren(h("p", { class: "error", id: "page-error" }, e.message));
  }
}

/** Replaces the part of the page with `id` by `element` (which takes the id), keeping the others. */
function put(id, element) {
  element.id = id;
  const old = document.getElementById(id);
  if (old) old.replaceWith(element);
  else main.append(element);
}

function page(title, ...ids) {
  onEvent = null;
  main.replaceChildren(h("h1", {}, title), ...ids.map((id) => h("div", { id })));
}

// ---- Devices ----------------------------------------------------------------------------------

/** How long after it was last heard from a device counts as awake (in contact). */
const AWAKE_MS = 30000;

function awake(state) {
  return Boolean(state.registered && state.last_seen_ms && Date.now() - state.last_seen_ms < AWAKE_MS);
}

async function devicesPage(live) {
  if (!live) {
    page(`Devices (${flavour})`, "devices", "device-form");
    put("device-form", deviceForm());
  }
  onEvent = (event) => event.flavour === flavour || event.kind === "lagged";
  const { devices } = await api("GET", `/api/${flavour}/devices`);
  const rows = devices.map((d) => h("tr", { "data-imei": d.imei },
    h("td", {}, h("a", { href: `#/device/${d.flavour}/${d.imei}` }, d.imei)),
    h("td", {}, d.product || "—"),
    h("td", {}, yesNo(d.state.registered)),
    h("td", {}, yesNo(d.state.observed)),
    h("td", {}, awake(d.state) ? "awake" : "asleep"),
    h("td", {}, when(d.state.last_seen_ms)),
    h("td", {}, d.state.address || "—"),
    h("td", {}, d.state.queued_downlinks)));
  put("devices", devices.length
    ? table("devices", ["IMEI", "product", "registered", "observed", "presence", "last seen", "address", "queued"], rows)
    : h("p", { id: "devices" }, "No device yet: register one (POST /api/…/devices) or start a module."));
}

/** Adds a device, or changes one (its product, its key). */
function deviceForm() {
  const message = h("p", {});
  const form = h("form", { id: "device-edit" },
    h("label", {}, "IMEI ", h("input", { id: "device-imei", required: true, pattern: "[0-9]{15}" })),
    h("label", {}, "Product ", h("input", { id: "device-product" })),
    h("label", {}, "PSK (hex, for DTLS) ", h("input", { id: "device-psk" })),
    h("button", { id: "device-save" }, "Save device"), message);
  return section("Add or change a device", onSubmit(form, message, async () => {
    const body = { imei: document.getElementById("device-imei").value };
    for (const field of ["product", "psk"]) {
      const value = document.getElementById(`device-${field}`).value;
      if (value) body[field] = value;
    }
    const d = await api("POST", `/api/${flavour}/devices`, body);
    return `device ${d.imei} saved`;
  }));
}

// ---- Device -----------------------------------------------------------------------------------

async function devicePage(live, deviceFlavour, imei) {
  if (deviceFlavour && deviceFlavour !== flavour) setFlavour(deviceFlavour, false);
  const base = `/api/${flavour}/devices/${imei}`;
  if (!live) {
    page(`Device ${imei} (${flavour})`, "device-state", "chart", "uplinks", "send", "downlinks",
      "objects", "operations", "exchanges");
    put("send", sendForms(base));
    put("objects", objectTree(base));
  }
  onEvent = (event) => event.imei === imei || event.kind === "lagged";
  const [device, { uplinks }, { downlinks }, { records }, { objects }, { operations }] = await Promise.all([
    api("GET", base), api("GET", `${base}/uplinks?limit=100`), api("GET", `${base}/downlinks`),
    api("GET", `/api/records/${flavour}?limit=1000`), api("GET", `${base}/objects`),
    api("GET", `${base}/operations`)]);
  const s = device.state;
  put("device-state", h("p", { id: "device-state" },
    `product ${device.product || "—"} · ${s.registered ? "registered" : "not registered"} · `,
    `${s.observed ? "observed" : "not observed"} · ${awake(s) ? "awake" : "asleep"} · `,
    `last seen ${when(s.last_seen_ms)} · ${s.address || "no address"}`));
  put("chart", chart(uplinks));
  put("uplinks", section("Uplinks", uplinks.length ? table("uplink-table", ["time", "hex", "decoded"],
    uplinks.map((u) => h("tr", {},
      h("td", {}, when(u.time_ms)),
      h("td", { class: "hex" }, u.data),
      h("td", {}, u.decode_error ? h("span", { class: "error" }, u.decode_error)
        : u.decoded ? h("code", {}, JSON.stringify(u.decoded)) : "—"))))
    : h("p", {}, "No uplink yet.")));
  put("downlinks", section("Downlinks and commands", downlinks.length ? table("downlink-table",
    ["id", "queued", "what", "hex", "status", "response"],
    downlinks.slice().reverse().map((d) => h("tr", {},
      h("td", {}, d.id), h("td", {}, when(d.queued_ms)),
      h("td", {}, d.command ? `${d.command.service}.${d.command.command} ${JSON.stringify(d.command.params || {})}` : "raw"),
      h("td", { class: "hex" }, d.data),
      h("td", {}, h("span", { class: `status ${d.status}` }, d.status === "queued" ? "queued (cached)" : d.status)),
      h("td", {}, d.response ? JSON.stringify(d.response) : ""))))
    : h("p", {}, "No downlink yet.")));
  put("object-list", objectList(base, objects));
  put("operations", section("Operations", operations.length ? table("operation-table",
    ["id", "operation", "path", "value", "status", "code", "content", "notifications"],
    operations.map((o) => h("tr", {},
      h("td", {}, o.id), h("td", {}, o.kind), h("td", {}, o.path), h("td", {}, o.value || ""),
      h("td", {}, h("span", { class: `status ${o.status}` }, o.status)), h("td", {}, o.code || ""),
      h("td", {}, o.content === undefined ? "" : h("code", {}, JSON.stringify(o.content))),
      h("td", {}, o.notifications))))
    : h("p", {}, "No operation yet.")));
  // The device's own records: its IMEI is in their fields (`imei`, or `ep=` in a Register's query).
  const mine = records.filter((r) => JSON.stringify(r.fields || {}).includes(imei));
  put("exchanges", section("CoAP exchanges", recordTable("exchange-table", mine.slice(0, 100))));
}

function sendForms(base) {
  const rawMessage = h("p", {});
  const raw = onSubmit(h("form", { id: "raw-form" },
    h("label", {}, "Raw hex ", h("input", { id: "raw-hex", required: true, pattern: "([0-9A-Fa-f]{2})+", placeholder: "AA0102" })),
    h("button", { id: "raw-send" }, "Queue downlink"), rawMessage), rawMessage, async () => {
    const d = await api("POST", `${base}/downlinks`, { data: document.getElementById("raw-hex").value });
    return `downlink ${d.id} ${d.status}`;
  });
  const commandMessage = h("p", {});
  const command = onSubmit(h("form", { id: "command-form" },
    h("label", {}, "Service ", h("input", { id: "command-service", required: true })),
    h("label", {}, "Command ", h("input", { id: "command-name", required: true })),
    h("label", {}, "Params (JSON) ", h("input", { id: "command-params", value: "{}" })),
    h("button", {}, "Send command"), commandMessage), commandMessage, async () => {
    const body = {
      service: document.getElementById("command-service").value,
      command: document.getElementById("command-name").value,
      params: parseJson(document.getElementById("command-params").value, "the params"),
    };
    const d = await api("POST", `${base}/commands`, body);
    return `command ${d.id} ${d.status}, encoded ${d.data}`;
  });
  return section("Send", raw, command);
}

/** The numeric properties of a decoded report (`services[].data`): {name: number}. */
function numbers(decoded) {
  const found = {};
  for (const service of decoded.services || []) {
    for (const [name, value] of Object.entries(service.data || {})) {
      if (typeof value === "number") found[name] = value;
    }
  }
  return found;
}

/** Asks the device for an operation (it waits for the device's next contact), then shows it. */
async function operate(base, kind, path, value) {
  const message = document.getElementById("operation-message");
  try {
    const o = await api("POST", `${base}/operations`, value ? { kind, path, value } : { kind, path });
    say(message, `${o.kind} ${o.path}: ${o.status} until the device's next contact`, false);
    route(true);
  } catch (e) {
    say(message, e.message, true);
  }
}

/** The object tree's form, for any operation on any path (Leshan's object tree), and its list. */
function objectTree(base) {
  const form = h("form", { id: "operation-form" },
    h("label", {}, "Operation ", h("select", { id: "operation-kind" },
      ["read", "write", "execute", "observe", "cancel"].map((k) => h("option", { value: k }, k)))),
    h("label", {}, "Path ", h("input", { id: "operation-path", required: true, placeholder: "/3/0/0" })),
    h("label", {}, "Value (Write) or arguments (Execute) ", h("input", { id: "operation-value" })),
    h("button", {}, "Send"), h("p", { id: "operation-message" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    operate(base, document.getElementById("operation-kind").value,
      document.getElementById("operation-path").value,
      document.getElementById("operation-value").value);
  });
  return section("Object tree", h("div", { id: "object-list" }), form);
}

/** The objects the device registered with, each with Read, Observe and Cancel. */
function objectList(base, objects) {
  if (!objects) return h("p", {}, "Not registered: no objects.");
  return table("object-table", ["object instance", ""], objects.map((path) => h("tr", { "data-path": path },
    h("td", {}, path),
    h("td", {}, ["read", "observe", "cancel"].map((kind) =>
      h("button", { type: "button", class: `op-${kind}`, onclick: () => operate(base, kind, path) }, kind))))));
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

/** A line per numeric decoded property over time, drawn as inline SVG. */
function chart(uplinks) {
  const series = {};
  for (const u of uplinks) {
    if (!u.decoded) continue;
    for (const [name, value] of Object.entries(numbers(u.decoded))) {
      (series[name] = series[name] || []).push([u.time_ms, value]);
    }
  }
  const names = Object.keys(series);
  if (!names.length) return section("Chart", h("p", {}, "No numeric decoded property yet."));
  const points = names.flatMap((n) => series[n]);
  const [t0, t1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
  const [v0, v1] = [Math.min(...points.map((p) => p[1])), Math.max(...points.map((p) => p[1]))];
  const [width, height, pad] = [640, 200, 30];
  const x = (t) => pad + ((t - t0) / ((t1 - t0) || 1)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - v0) / ((v1 - v0) || 1)) * (height - 2 * pad);
  const drawing = svg("svg", { id: "chart-svg", viewBox: `0 0 ${width} ${height}`, role: "img" });
  drawing.append(svg("text", { x: 2, y: 12, class: "axis" }, String(v1)),
    svg("text", { x: 2, y: height - pad, class: "axis" }, String(v0)));
  names.forEach((name, i) => {
    const line = series[name].slice().sort((a, b) => a[0] - b[0]).map((p) => `${x(p[0])},${y(p[1])}`).join(" ");
    drawing.append(svg("polyline", { points: line, class: `series s${i % 4}` }),
      svg("text", { x: width - pad - 120, y: 14 + 14 * i, class: `legend s${i % 4}` }, name));
    for (const p of series[name]) drawing.append(svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, class: `s${i % 4}` }));
  });
  return section("Chart", drawing);
}

function recordTable(id, records) {
  if (!records.length) return h("p", { id }, "No record.");
  return table(id, ["time", "from", "operation", "verdict", "status", "fault", "fields"],
    records.map((r) => h("tr", {},
      h("td", {}, when(r.time_ms)), h("td", {}, r.source), h("td", {}, r.operation),
      h("td", {}, r.verdict), h("td", {}, r.status || ""), h("td", {}, r.fault || ""),
      h("td", {}, h("code", {}, JSON.stringify(r.fields))))));
}

/** A file input whose chosen file's text fills the text area `target` (still editable after). */
function fileInto(id, accept, target) {
  return h("input", {
    id, type: "file", accept, onchange: async (event) => {
      const file = event.target.files[0];
      if (file) document.getElementById(target).value = await file.text();
    },
  });
}

// ---- Products ---------------------------------------------------------------------------------

/** A starting point for a new product: docs/codecs.md's water meter. */
const EXAMPLE_PROFILE = {
  devices: [{
    manufacturerId: "nbmodem", model: "WM-1", deviceType: "WaterMeter", protocolType: "CoAP",
    serviceTypeCapabilities: [{ serviceId: "Meter", serviceType: "WaterMeter", option: "Master" }],
  }],
  services: [{
    serviceType: "WaterMeter", compactId: 1,
    properties: [
      { propertyName: "reading", dataType: "decimal", required: true, min: "0", max: "999999.999", unit: "m3", method: "RE" },
      { propertyName: "valveState", dataType: "string", required: true, maxLength: 6, enumList: ["OPEN", "CLOSED"] },
    ],
    commands: [{
      commandName: "SET_VALVE", compactId: 2,
      paras: [{ paraName: "state", dataType: "string", required: true, maxLength: 6, enumList: ["OPEN", "CLOSED"] }],
      responses: [{ responseName: "SET_VALVE_RESULT", paras: [{ paraName: "result", dataType: "int", min: 0, max: 1 }] }],
    }],
  }],
};

/** A product's model in a few words: its devices' manufacturer, type and model. */
function modelOf(profile) {
  return (profile.devices || []).map((d) =>
    [d.manufacturerId || d.manufacturerName, d.deviceType, d.model].filter(Boolean).join(" / ")).join("; ");
}

/** The services a product's Profile declares. */
function servicesOf(profile) {
  const declared = (profile.services || []).map((s) => s.serviceType);
  const named = (profile.devices || []).flatMap((d) => (d.serviceTypeCapabilities || []).map((c) => c.serviceId));
  return [...new Set([...named, ...declared])].filter(Boolean).join(", ");
}

async function productsPage(live) {
  if (!live) {
    page(`Products (${flavour})`, "products", "product-form", "debug");
    put("product-form", productForm());
    put("debug", debugForms());
  }
  onEvent = (event) => event.kind === "product" && event.flavour === flavour;
  const { products } = await api("GET", `/api/${flavour}/products`);
  put("products", section("Products", products.length ? table("product-table", ["id", "model", "services", "codec", ""],
    products.map((p) => h("tr", {},
      h("td", {}, p.id),
      h("td", {}, modelOf(p.profile) || "—"),
      h("td", {}, servicesOf(p.profile) || "—"),
      h("td", {}, (p.codec && p.codec.kind) || "passthrough"),
      h("td", {}, h("button", { type: "button", onclick: () => editProduct(p) }, "Edit")))))
    : h("p", {}, "No product yet.")));
}

function productForm() {
  const message = h("p", { id: "product-message" });
  const form = h("form", { id: "product-edit" },
    h("label", {}, "Id ", h("input", { id: "product-id", required: true })),
    h("label", { class: "wide" }, "Profile file ", fileInto("product-profile-file", ".json,application/json", "product-profile")),
    h("label", { class: "wide" }, "Profile (JSON, with its services) ",
      h("textarea", { id: "product-profile", rows: 12 }, JSON.stringify(EXAMPLE_PROFILE, null, 2))),
    h("label", {}, "Codec ", h("select", { id: "product-codec" },
      h("option", { value: "passthrough" }, "pass-through"),
      h("option", { value: "compact" }, "compact (CTWing binary)"),
      h("option", { value: "script" }, "JavaScript plug-in"))),
    h("label", { class: "wide" }, "Plug-in script ", fileInto("product-script-file", ".js,text/javascript", "product-script")),
    h("textarea", { id: "product-script", rows: 6, placeholder: "function decode(bytes) {…} function encode(json) {…}" }),
    h("button", { id: "product-save" }, "Save product"), message);
  return section("Create or edit", onSubmit(form, message, saveProduct));
}

function codecOfForm() {
  const kind = document.getElementById("product-codec").value;
  return kind === "script" ? { kind, script: document.getElementById("product-script").value } : { kind };
}

async function saveProduct() {
  const id = document.getElementById("product-id").value;
  const profile = parseJson(document.getElementById("product-profile").value, "the profile");
  const codec = codecOfForm();
  // A script may be larger than a product's body may be: it goes on its own (up to 1 MiB).
  const script = codec.kind === "script";
  await api("POST", `/api/${flavour}/products`, script ? { id, profile } : { id, profile, codec });
  if (script) await api("PUT", `/api/${flavour}/products/${encodeURIComponent(id)}/codec`, codec);
  return `product ${id} saved with the ${codec.kind} codec`;
}

function editProduct(product) {
  document.getElementById("product-id").value = product.id;
  document.getElementById("product-profile").value = JSON.stringify(product.profile, null, 2);
  const codec = product.codec || { kind: "passthrough" };
  document.getElementById("product-codec").value = codec.kind;
  document.getElementById("product-script").value = codec.script || "";
  document.getElementById("debug-product").value = product.id;
}

function debugForms() {
  const upMessage = h("pre", { id: "debug-uplink-result" });
  const uplink = onSubmit(h("form", { id: "debug-uplink" },
    h("label", {}, "Uplink hex, or JSON properties ", h("input", { id: "debug-hex", placeholder: "0200… or {\"service\":…,\"properties\":{…}}" })),
    h("button", {}, "Decode"), upMessage), upMessage, async () => {
    const text = document.getElementById("debug-hex").value.trim();
    const body = text.startsWith("{") ? parseJson(text, "the properties") : { hex: text };
    return JSON.stringify(await api("POST", `${debugBase()}/uplink`, body), null, 2);
  });
  const commandMessage = h("pre", { id: "debug-command-result" });
  const command = onSubmit(h("form", { id: "debug-command" },
    h("label", {}, "Command (JSON) ", h("input", { id: "debug-command-json", value: "{\"service\":\"\",\"command\":\"\",\"params\":{}}" })),
    h("button", {}, "Encode"), commandMessage), commandMessage, async () => {
    const body = parseJson(document.getElementById("debug-command-json").value, "the command");
    return JSON.stringify(await api("POST", `${debugBase()}/command`, body), null, 2);
  });
  return section("Online debugging (a virtual device: no module needed)",
    h("label", {}, "Product ", h("input", { id: "debug-product", required: true })), uplink, command);
}

function debugBase() {
  const product = document.getElementById("debug-product").value;
  if (!product) throw new Error("name the product first (or press Edit on one)");
  return `/api/${flavour}/products/${encodeURIComponent(product)}/debug`;
}

// ---- FOTA -------------------------------------------------------------------------------------

const PROGRESS = { waiting: 0, downloading: 35, updating: 70, succeeded: 100, failed: 100 };

async function fotaPage(live) {
  if (!live) {
    page(`FOTA (${flavour})`, "fota-keys", "fota-packages", "fota-tasks", "fota-forms");
    put("fota-forms", fotaForms());
  }
  onEvent = (event) => event.kind === "fota" && event.flavour === flavour;
  const base = `/api/${flavour}/fota`;
  const [{ keys }, { packages }, { tasks }] = await Promise.all([
    api("GET", `${base}/keys`), api("GET", `${base}/packages`), api("GET", `${base}/tasks`)]);
  put("fota-keys", section("Manufacturers' keys", keys.length ? table("key-table", ["manufacturer", "algorithm"],
    keys.map((k) => h("tr", {}, h("td", {}, k.manufacturer), h("td", {}, k.algorithm)))) : h("p", {}, "No key.")));
  put("fota-packages", section("Packages", packages.length ? table("package-table", ["id", "from", "to", "size", "manufacturer / type / model"],
    packages.map((p) => h("tr", {}, h("td", {}, p.id), h("td", {}, p.source), h("td", {}, p.version), h("td", {}, p.size),
      h("td", {}, `${p.manufacturer} / ${p.device_type} / ${p.model}`)))) : h("p", {}, "No package.")));
  put("fota-tasks", section("Tasks", tasks.length ? tasks.map(taskView) : h("p", {}, "No task.")));
}

function taskView(task) {
  const upgrades = task.upgrades || [];
  return h("div", { class: "task", "data-task": task.id },
    h("h3", {}, `${task.name} (${task.id}) · package ${task.package}`,
      task.started === false ? h("button", { type: "button", onclick: () => startTask(task.id) }, "Start") : null),
    table(`task-${task.id}`, ["device", "progress", "status", "attempts", "history"],
      upgrades.map((u) => h("tr", {},
        h("td", {}, u.imei),
        h("td", {}, h("progress", { max: 100, value: PROGRESS[u.status] ?? 0, class: u.status, "data-imei": u.imei })),
        h("td", {}, h("span", { class: `status ${u.status}` }, u.status)),
        h("td", {}, u.attempts),
        h("td", {}, h("ol", { class: "history" }, (u.history || []).map((e) => h("li", {}, `${when(e.time_ms)} ${e.text}`))))))));
}

async function startTask(id) {
  await api("POST", `/api/${flavour}/fota/tasks/${encodeURIComponent(id)}/start`);
  route(true);
}

function fotaForms() {
  const keyMessage = h("p", {});
  const key = onSubmit(h("form", { id: "key-form" },
    h("label", {}, "Manufacturer ", h("input", { id: "key-manufacturer", required: true })),
    h("label", { class: "wide" }, "Public key file (public.pem) ", fileInto("key-file", ".pem", "key-pem")),
    h("label", { class: "wide" }, "Public key (PEM) ", h("textarea", { id: "key-pem", rows: 4 })),
    h("button", {}, "Save key"), keyMessage), keyMessage, async () => {
    const k = await api("PUT", `/api/${flavour}/fota/keys`,
      { manufacturer: document.getElementById("key-manufacturer").value, public_key: document.getElementById("key-pem").value });
    return `key of ${k.manufacturer} (${k.algorithm}) saved`;
  });
  const fields = ["version", "manufacturer", "device_type", "model", "protocol", "product", "id"];
  const packageMessage = h("p", {});
  const upload = onSubmit(h("form", { id: "package-form" },
    fields.map((f) => h("label", {}, `${f} `, h("input", { id: `package-${f}`, required: f !== "id", value: f === "protocol" ? "CoAP" : undefined }))),
    h("label", {}, "Signed archive ", h("input", { id: "package-file", type: "file", accept: ".zip", required: true })),
    h("button", {}, "Upload"), packageMessage), packageMessage, async () => {
    const query = new URLSearchParams();
    for (const f of fields) {
      const value = document.getElementById(`package-${f}`).value;
      if (value) query.set(f, value);
    }
    const file = document.getElementById("package-file").files[0];
    const p = await api("POST", `/api/${flavour}/fota/packages?${query}`, await file.arrayBuffer(), "application/zip");
    return `package ${p.id} uploaded (${p.size} bytes)`;
  });
  const taskMessage = h("p", {});
  const task = onSubmit(h("form", { id: "task-form" },
    h("label", {}, "Id ", h("input", { id: "task-id", required: true })),
    h("label", {}, "Package ", h("input", { id: "task-package", required: true })),
    h("label", {}, "Devices (IMEIs, comma-separated) ", h("input", { id: "task-devices", required: true })),
    h("label", {}, "Group (batch task) ", h("input", { id: "task-group" })),
    h("label", {}, h("input", { id: "task-start", type: "checkbox", checked: true }), " start at once"),
    h("button", {}, "Create task"), taskMessage), taskMessage, async () => {
    const body = {
      id: document.getElementById("task-id").value,
      package: document.getElementById("task-package").value,
      devices: document.getElementById("task-devices").value.split(",").map((s) => s.trim()).filter(Boolean),
    };
    const group = document.getElementById("task-group").value;
    if (group) body.group = group;
    else body.start = document.getElementById("task-start").checked;
    const t = await api("POST", `/api/${flavour}/fota/tasks`, body);
    return `task ${t.id} created`;
  });
  return section("Add", key, upload, task);
}

// ---- Stand-ins --------------------------------------------------------------------------------

const SERVERS = { ct: "China Telecom registry", cu: "China Unicom registry", dm: "CMDMP DM server", iot: "CT IoT platform", aep: "CTWing AEP" };
const FAULTS = ["drop", "reject", "delay", "reset", "noack"];

/** The faults a server takes: resets and unacknowledged uplinks are the CT IoT platforms' only. */
function faultsOf(server) {
  return server === "iot" || server === "aep" ? FAULTS : FAULTS.slice(0, 3);
}

async function standinsPage(live) {
  if (!live) page("Stand-ins", ...Object.keys(SERVERS).map((s) => `server-${s}`));
  onEvent = (event) => event.kind === "record";
  for (const [server, name] of Object.entries(SERVERS)) {
    const [faults, { records }] = await Promise.all([
      api("GET", `/api/faults/${server}`), api("GET", `/api/records/${server}?limit=20`)]);
    const kept = document.getElementById(`server-${server}`).querySelector("form");
    put(`server-${server}`, h("section", { class: "card", id: `server-${server}` },
      h("h2", {}, `${name} (${server})`),
      h("p", { id: `faults-${server}` }, "faults in force: ",
        faultsOf(server).map((f) => `${f}=${faults[f]}`).join(" ")),
      kept || faultForm(server),
      recordTable(`records-${server}`, records)));
  }
}

function faultForm(server) {
  const message = h("p", {});
  const form = h("form", { id: `fault-form-${server}` },
    h("select", { id: `fault-kind-${server}` }, faultsOf(server).map((k) => h("option", { value: k }, k))),
    h("input", { id: `fault-value-${server}`, value: "1", size: 6, "aria-label": "count or delay" }),
    h("button", { id: `fault-on-${server}` }, "Switch on"),
    h("button", { id: `fault-off-${server}`, type: "button", onclick: async () => {
      try {
        await api("DELETE", `/api/faults/${server}`);
        say(message, "faults cleared", false);
        route(true);
      } catch (e) { say(message, e.message, true); }
    } }, "Clear all"), message);
  return onSubmit(form, message, async () => {
    const kind = document.getElementById(`fault-kind-${server}`).value;
    const value = document.getElementById(`fault-value-${server}`).value;
    await api("POST", `/api/faults/${server}`, { [kind]: kind === "delay" ? value : Number(value) });
    route(true);
    return `${kind}=${value} in force`;
  });
}

// ---- Start ------------------------------------------------------------------------------------

function setFlavour(value, show) {
  flavour = value;
  localStorage.setItem("flavour", value);
  if (show) route();
}

document.getElementById("flavour").addEventListener("change", (event) => {
  const [, page] = location.hash.split("/");
  if (page === "device") location.hash = "#/devices";
  setFlavour(event.target.value, true);
});
document.getElementById("logout").addEventListener("click", async () => {
  await api("POST", "/api/logout");
  showLogin();
});
window.addEventListener("hashchange", () => route());

(async () => {
  const { logged_in: loggedIn } = await api("GET", "/api/session");
  if (!loggedIn) return showLogin();
  startEvents();
  route();
})();
