// The tunegen page: talks only to the JSON API under /api/.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);

// Call the API; a failure becomes an Error with the server's one-line reason.
async function api(method, url, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (response.status === 204) return null;
  const data = await response.json();
  if (!response.ok) throw new Error(reason(data.detail, response));
  return data;
}

function reason(detail, response) {
  if (Array.isArray(detail)) {  // pydantic's list of invalid fields
    return detail.map((d) => `${d.loc.slice(1).join(".") || "input"}: ${d.msg}`).join("; ");
  }
  const retry = response.headers.get("Retry-After");
  return retry ? `${detail} (retry in ${retry} s)` : detail || response.statusText;
}

// Show a job in progress (with the seconds it has taken), its end, or an error.
let timer = null;
function setStatus(text, { busy = false, error = false } = {}) {
  clearInterval(timer);
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", error);
  $("#progress").hidden = !busy;
  $("#compose").disabled = busy;
  if (busy) {
    const start = Date.now();
    timer = setInterval(() => {
      status.textContent = `${text} ${Math.round((Date.now() - start) / 1000)} s`;
    }, 1000);
  }
}

async function runJob(text, job) {
  setStatus(text, { busy: true });
  try {
    const message = await job();
    setStatus(message);
  } catch (err) {
    setStatus(err.message, { error: true });
  }
}

async function loadModels() {
  const select = $("#model");
  const models = await api("GET", "/api/models");
  select.replaceChildren(...models.map((model) => new Option(model.name, model.name, model.default, model.default)));
  if (!models.length) throw new Error("No models: start the server with --models FOLDER");
}

function composeRequest(form) {
  const data = new FormData(form);
  const body = {};
  for (const name of ["model", "title", "meter", "key", "primer"]) {
    const text = String(data.get(name) || "").replace(/\r\n/g, "\n");
    const value = name === "primer" ? text : text.trim();  // a primer's spaces are music
    if (value) body[name] = value;
  }
  for (const name of ["temperature", "max_chars", "num_tunes", "seed"]) {
    const value = String(data.get(name) || "").trim();
    if (value) body[name] = Number(value);
  }
  return body;
}

// One rendered tune as a card: sheet music, player, downloads, editable ABC, save form.
function tuneCard(tune, model) {
  const card = $("#tune-card").content.firstElementChild.cloneNode(true);
  fillCard(card, tune);
  $(".name", card).value = tune.title;
  $(".rerender", card).addEventListener("click", () =>
    runJob("Rendering...", async () => {
      const result = await api("POST", "/api/render", { abc: $(".abc", card).value });
      fillCard(card, result.tunes[0]);
      return "Rendered.";
    }));
  $(".save-button", card).addEventListener("click", () =>
    runJob("Saving...", async () => {
      const name = $(".name", card).value.trim() || $(".title", card).textContent;
      const abc = $(".abc", card).value;
      await api("POST", "/api/tunes", { name, abc, starred: $(".star", card).checked, model });
      await loadLibrary();
      return `Saved "${name}".`;
    }));
  return card;
}

function fillCard(card, tune) {
  $(".title", card).textContent = `${tune.number}. ${tune.title}`;
  $(".abc", card).value = tune.abc;
  $(".sheets", card).replaceChildren(...(tune.files.svg || []).map((url) => {
    const image = new Image();
    image.src = url;
    image.alt = `${tune.title}, sheet music`;
    return image;
  }));
  $("audio", card)?.remove();
  for (const url of tune.files.wav || []) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = url;
    $(".sheets", card).after(audio);
  }
  $(".failures", card).textContent = Object.entries(tune.failures)
    .map(([format, why]) => `${format} failed: ${why}`).join("; ");
  const labels = { abc: ".abc", midi: ".mid", wav: ".wav" };
  $(".downloads", card).replaceChildren(...Object.entries(labels)
    .filter(([format]) => tune.files[format])
    .map(([format, label]) => {
      const link = document.createElement("a");
      link.href = tune.files[format][0];
      link.download = tune.files[format][0].split("/").pop();
      link.textContent = `Download ${label}`;
      return link;
    }));
}

function showTunes(tunes, model) {
  $("#tunes").replaceChildren(...tunes.map((tune) => tuneCard(tune, model)));
}

async function loadLibrary() {
  const tunes = await api("GET", "/api/tunes");
  $("#saved").replaceChildren(...tunes.map(savedItem));
}

// One saved tune in the library list: star, rename, open (render), delete.
function savedItem(tune) {
  const item = $("#saved-item").content.firstElementChild.cloneNode(true);
  const url = `/api/tunes/${tune.id}`;
  $(".name", item).value = tune.name;
  $(".star", item).checked = tune.starred;
  $(".star", item).addEventListener("change", (event) =>
    runJob("Saving...", async () => {
      await api("PATCH", url, { starred: event.target.checked });
      return event.target.checked ? `Starred "${tune.name}".` : `Unstarred "${tune.name}".`;
    }));
  $(".rename", item).addEventListener("click", () =>
    runJob("Saving...", async () => {
      const saved = await api("PATCH", url, { name: $(".name", item).value.trim() });
      return `Renamed to "${saved.name}".`;
    }));
  $(".open", item).addEventListener("click", () =>
    runJob("Rendering...", async () => {
      const result = await api("POST", "/api/render", { abc: tune.abc });
      showTunes(result.tunes, tune.model);
      $("#tunes .name").value = tune.name;
      return `Opened "${tune.name}".`;
    }));
  $(".delete", item).addEventListener("click", () =>
    runJob("Deleting...", async () => {
      await api("DELETE", url);
      await loadLibrary();
      return `Deleted "${tune.name}".`;
    }));
  return item;
}

$("#compose-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = composeRequest(event.target);
  runJob("Composing...", async () => {
    const result = await api("POST", "/api/compose", body);
    showTunes(result.tunes, body.model || "");
    return `Composed ${result.tunes.length} tunes in ${result.seconds.toFixed(1)} s.`;
  });
});

runJob("Loading...", async () => {
  await Promise.all([loadModels(), loadLibrary()]);
  return "";
});
