// The tunegen page: talks only to the JSON API under /api/; draws and plays tunes with the
// vendored abcjs (sheet music, synth, cursor) and the soundfont the package serves.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const SOUNDFONT = "/static/soundfont/";
const UNDO_MS = 8000;  // how long "Undo" shows after a delete (the server keeps it 30 s)
const KEY_MODES = { "": "major", m: "minor", dor: "dorian", mix: "mixolydian", lyd: "lydian",
  phr: "phrygian", loc: "locrian" };
let choices = null;  // the chosen model's /api/choices
let choicesAsked = 0;  // /api/choices requests made: only the latest one's answer is used
let temperatureMoved = false;  // the user moved the slider since the model was chosen

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
  if (Array.isArray(detail)) {  // pydantic's (or a choice check's) list of invalid fields
    return detail.map((d) => {
      const field = d.loc.slice(1).join(".") || "input";
      return d.msg.startsWith(`${field}:`) ? d.msg : `${field}: ${d.msg}`;
    }).join("; ");
  }
  const retry = response.headers.get("Retry-After");
  return retry ? `${detail} (retry in ${retry} s)` : detail || response.statusText;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// A status line: a job in progress (with its seconds), its end, or an error.
function statusLine(element) {
  let timer = null;
  return (text, { busy = false, error = false, action = null } = {}) => {
    clearInterval(timer);
    element.replaceChildren(text);
    element.classList.toggle("error", error);
    if (action) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = action.label;
      button.addEventListener("click", action.run, { once: true });
      element.append(" ", button);
    }
    if (busy) {
      const start = Date.now();
      timer = setInterval(() => {
        element.textContent = `${text} ${Math.round((Date.now() - start) / 1000)} s`;
      }, 1000);
    }
  };
}
const mainStatus = statusLine($("#status"));
const libraryStatus = statusLine($("#library-status"));

async function runJob(say, text, job, button) {
  say(text, { busy: true });
  if (button) button.disabled = true;
  try {
    const message = await job();
    if (typeof message === "string") say(message);
  } catch (err) {
    say(err.message, { error: true });
  } finally {
    if (button) button.disabled = false;
  }
}

// ------------------------------------------------------------------ controls that know the model
function keyLabel(key) {
  const match = /^([A-G][#b]?)(m|dor|mix|lyd|phr|loc)?$/.exec(key);
  return match ? `${match[1]} ${KEY_MODES[match[2] || ""]}` : key;
}

function fillChoice(select, values, label = String) {
  const keep = select.value;
  select.replaceChildren(new Option("model's choice", ""),
    ...values.map((value) => new Option(label(value), String(value))));
  if (values.map(String).includes(keep)) select.value = keep;
}

async function loadChoices() {
  const model = $("#model").value;
  const asked = ++choicesAsked;
  temperatureMoved = false;
  const answer = await api("GET", `/api/choices?model=${encodeURIComponent(model)}`);
  if (asked !== choicesAsked) return;  // another model was chosen meanwhile
  choices = answer;
  fillChoice($("#meter"), choices.meters);
  fillChoice($("#key"), choices.keys, keyLabel);
  fillChoice($("#rhythm"), choices.rhythms);
  fillChoice($("#form"), choices.forms);
  fillChoice($("#bars_per_part"), choices.bars_per_part);
  // the model's own temperature, unless the user set one while its choices were on the way
  if (!temperatureMoved) setTemperature(choices.temperature);
}

function setTemperature(value) {
  $("#temperature").value = value;
  $("#temperature-value").value = Number(value).toFixed(2);
}

async function loadModels() {
  const select = $("#model");
  const models = await api("GET", "/api/models");
  if (!models.length) throw new Error("No models: start the server with --models FOLDER");
  select.replaceChildren(...models.map((m) => new Option(m.name, m.name, m.default, m.default)));
  await loadChoices();
}

function composeRequest(form) {
  const data = new FormData(form);
  const body = {};
  for (const name of ["model", "title", "meter", "key", "rhythm", "form", "primer"]) {
    const text = String(data.get(name) || "").replace(/\r\n/g, "\n");
    const value = name === "primer" ? text : text.trim();  // a primer's spaces are music
    if (value) body[name] = value;
  }
  for (const name of ["temperature", "top_k", "top_p", "max_chars", "num_tunes", "seed",
    "bars_per_part"]) {
    const value = String(data.get(name) || "").trim();
    if (value) body[name] = Number(value);
  }
  return body;
}

// "Compose again like this": the form takes a tune's settings, then composes.
function applySettings(settings) {
  const form = $("#compose-form");
  const set = (name, value) => { form.elements[name].value = value ?? ""; };
  set("model", settings.model);
  for (const name of ["meter", "key", "rhythm", "form", "bars_per_part", "title", "primer",
    "seed", "num_tunes", "max_chars", "top_k", "top_p"]) set(name, settings[name]);
  setTemperature(settings.temperature);
}

// ------------------------------------------------------------------------ sheet music (abcjs)
function sheetWidth(element) {
  return Math.max(260, Math.floor(element.clientWidth || element.parentElement.clientWidth) - 8);
}

// Draw every tune of `abc` into `element`, wrapped to the element's width; returns the tunes.
function drawSheet(element, abc) {
  const width = sheetWidth(element);
  const count = Math.max(1, (abc.match(/^X:/gm) || []).length);
  const targets = Array.from({ length: count }, () => document.createElement("div"));
  element.replaceChildren(...targets);
  element.dataset.width = String(width);
  const narrow = width < 560;
  // The card's heading shows the title: T: lines become comments (a blank line would end the tune)
  return ABCJS.renderAbc(targets, abc.replace(/^T:.*$/gm, "%"), {
    add_classes: true,
    responsive: "resize",
    staffwidth: width,
    scale: narrow ? 0.85 : 1,
    paddingleft: 0,
    paddingright: 0,
    wrap: { minSpacing: 1.6, maxSpacing: 2.6, preferredMeasuresPerLine: narrow ? 2 : 4 },
    foregroundColor: "currentColor",
  });
}

// ------------------------------------------------------------------- listening (abcjs synth)
function beatsPerMinute(tune) {
  if (tune.metaText && tune.metaText.tempo) return Math.round(tune.getBpm());
  // No Q: the server's defaults for the beat (tunegen.render.performance.DEFAULT_QPM_BY_BEAT)
  const beat = tune.getBeatLength() * 4;  // in quarter notes
  const qpm = (choices && choices.default_qpm_by_beat[String(beat)]) || choices?.default_qpm || 120;
  return Math.round(qpm / beat);
}

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// One card's player: play/pause, loop, tempo (beats a minute) and a cursor on the sheet.
class Player {
  constructor(card) {
    this.card = card;
    this.tune = null;
    this.synth = null;
    this.timer = null;
    this.playing = false;
    this.ready = null;
    $(".play", card).addEventListener("click", () => this.toggle());
    $(".tempo", card).addEventListener("input", () => this.showTempo());
    $(".tempo", card).addEventListener("change", () => this.retempo());
  }

  setTune(tune) {
    this.stop();
    this.tune = tune;
    this.ready = null;
    const bpm = beatsPerMinute(tune);
    const slider = $(".tempo", this.card);
    slider.min = String(Math.max(20, Math.round(bpm / 3)));
    slider.max = String(Math.round(bpm * 2));
    slider.value = String(bpm);
    slider.dataset.tuneBpm = String(bpm);
    this.showTempo();
    $(".time", this.card).textContent = "0:00";
  }

  showTempo() {
    const slider = $(".tempo", this.card);
    const percent = Math.round((100 * slider.value) / slider.dataset.tuneBpm);
    $(".tempo-value", this.card).value = `${slider.value} bpm (${percent}%)`;
  }

  // Load the notes' samples and time the cursor at the slider's tempo (samples are cached).
  prepare() {
    if (!this.ready) {
      const bpm = Number($(".tempo", this.card).value);
      const synth = new ABCJS.synth.CreateSynth();
      this.synth = synth;
      this.ready = synth.init({
        visualObj: this.tune,
        millisecondsPerMeasure: this.tune.millisecondsPerMeasure(bpm),
        options: { soundFontUrl: SOUNDFONT },
      }).then(() => synth.prime()).then(() => {
        this.timer = new ABCJS.TimingCallbacks(this.tune, {
          qpm: bpm,
          beatSubdivisions: 4,
          eventCallback: (event) => this.onEvent(event),
          beatCallback: (beat, total, totalMs) => {
            $(".time", this.card).textContent =
              `${formatTime((beat / total) * totalMs / 1000)} / ${formatTime(totalMs / 1000)}`;
          },
        });
      });
    }
    return this.ready;
  }

  async toggle() {
    if (this.playing) return this.pause();
    for (const other of players) if (other !== this && other.playing) other.pause();
    const button = $(".play", this.card);
    try {
      button.disabled = true;
      await ABCJS.synth.activeAudioContext()?.resume?.();
      await this.prepare();
      if (this.started) {
        this.synth.resume();
      } else {
        this.synth.start();
        this.started = true;
      }
      this.timer.start();
      this.playing = true;
      button.textContent = "Pause";
      button.setAttribute("aria-label", "Pause");
    } catch (err) {
      say(this.card)(`Cannot play: ${err.message || err.status || err}`, { error: true });
    } finally {
      button.disabled = false;
    }
  }

  pause() {
    if (!this.playing) return;
    this.synth.pause();
    this.timer.pause();
    this.playing = false;
    $(".play", this.card).textContent = "Play";
    $(".play", this.card).setAttribute("aria-label", "Play");
  }

  stop() {
    if (this.synth) this.synth.stop();
    if (this.timer) this.timer.stop();
    this.playing = this.started = false;
    this.highlight([]);
    $(".cursor", this.card)?.remove();
    $(".play", this.card).textContent = "Play";
  }

  async retempo() {
    const wasPlaying = this.playing;
    this.stop();
    this.ready = null;
    if (wasPlaying) await this.toggle();
  }

  onEvent(event) {
    if (!event) {  // the end
      const loop = $(".loop", this.card).checked;
      this.stop();
      if (loop) this.toggle();
      return;
    }
    this.highlight(event.elements.flat());
    this.moveCursor(event);
  }

  highlight(elements) {
    for (const old of $$(".abcjs-playing", this.card)) old.classList.remove("abcjs-playing");
    for (const element of elements) element.classList.add("abcjs-playing");
  }

  // A vertical line at the note being played, in the SVG of the tune's sheet.
  moveCursor(event) {
    const svg = $(".sheet svg", this.card);
    if (!svg) return;
    let line = $(".cursor", svg);
    if (!line) {
      line = document.createElementNS(svg.namespaceURI, "line");
      line.setAttribute("class", "cursor");
      svg.append(line);
    }
    const x = String(event.left - 2);
    line.setAttribute("x1", x);
    line.setAttribute("x2", x);
    line.setAttribute("y1", String(event.top));
    line.setAttribute("y2", String(event.top + event.height));
  }
}
const players = new Set();

// ------------------------------------------------------------------------------- tune cards
const say = (card) => card.say || (card.say = statusLine($(".card-status", card)));

function settingsLine(settings) {
  const parts = [
    `model ${settings.model}`, `seed ${settings.seed}`,
    `temperature ${Number(settings.temperature).toFixed(2)}`,
    `top-k ${settings.top_k}`, `top-p ${settings.top_p}`,
  ];
  for (const name of ["meter", "key", "rhythm", "form", "bars_per_part"]) {
    if (settings[name]) parts.push(`${name.replace(/_/g, " ")} ${settings[name]}`);
  }
  if (settings.num_tunes > 1) parts.push(`tune ${settings.index} of ${settings.num_tunes}`);
  return parts.join(" · ");
}

// One tune as a card: sheet music, player, downloads, editable ABC with a live preview, save.
function tuneCard(tune, { settings = null, saved = null } = {}) {
  const card = $("#tune-card").content.firstElementChild.cloneNode(true);
  card.settings = settings;
  card.saved = saved;  // the library entry this card edits, once saved or opened
  card.player = new Player(card);
  players.add(card.player);
  fillCard(card, tune);
  $(".name", card).value = saved ? saved.name : tune.title;
  $(".star", card).checked = saved ? saved.starred : false;
  showSaved(card);
  if (settings) {
    $(".meta", card).textContent = settingsLine(settings);
    const again = $(".again", card);
    again.hidden = false;
    again.addEventListener("click", () => {
      applySettings(settings);
      $("#compose-form").requestSubmit();
      $("#compose-form").scrollIntoView({ behavior: "smooth", block: "start" });
    });
  }
  if (tune.truncated) {
    const notice = $(".notice", card);
    notice.hidden = false;
    notice.textContent = `Stopped at the length limit (${settings.max_chars} characters) before ` +
      "the tune's end: the last bars may be unfinished. Raise the length under More to let it finish.";
  }
  $(".name", card).addEventListener("input", () => { card.nameEdited = true; });
  $(".name", card).addEventListener("keydown", (event) => {
    if (event.key === "Enter") save(card, false);
  });
  let preview = null;
  $(".abc", card).addEventListener("input", () => {
    clearTimeout(preview);
    preview = setTimeout(() => drawCard(card, $(".abc", card).value), 250);
  });
  $(".rerender", card).addEventListener("click", (event) => rerender(card, event.target));
  $(".save-button", card).addEventListener("click", () => save(card, false));
  $(".save-as", card).addEventListener("click", () => save(card, true));
  return card;
}

function drawCard(card, abc) {
  const tunes = drawSheet($(".sheet", card), abc);
  if (tunes.length) card.player.setTune(tunes[0]);
  const warnings = tunes.flatMap((t) => t.warnings || []);
  $(".failures", card).textContent = card.failed?.length ? `Cannot play: ${card.failed[0]}`
    : warnings.length
      ? `${plural(warnings.length, "problem")} in the ABC: ${warnings[0].replace(/<[^>]*>/g, "")}`
      : "";
}

// The card's title, ABC, downloads and failures; the sheet is drawn once the card is on the
// page (drawCard), where its width is known.
function fillCard(card, tune) {
  card.tune = tune;
  $(".title", card).textContent = tune.title;
  $(".abc", card).value = tune.abc;
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
  card.failed = Object.entries(tune.failures).map(([format, why]) => `${format}: ${why}`);
}

function showSaved(card) {
  $(".save-button", card).textContent = card.saved ? "Save changes" : "Save";
  $(".save-as", card).hidden = !card.saved;
}

// Edited ABC -> new downloads; a text with several tunes becomes one card per tune.
function rerender(card, button) {
  runJob(say(card), "Rendering...", async () => {
    const result = await api("POST", "/api/render", { abc: $(".abc", card).value });
    const [first, ...more] = result.tunes;
    const oldTitle = card.tune.title;
    fillCard(card, first);
    drawCard(card, first.abc);
    if (!card.nameEdited && $(".name", card).value === (card.saved?.name ?? oldTitle)) {
      $(".name", card).value = first.title;  // the name follows a changed T: line
    }
    let after = card;
    for (const tune of more) {
      const next = tuneCard(tune);
      after.after(next);
      drawCard(next, tune.abc);
      after = next;
    }
    return more.length ? `Rendered ${result.tunes.length} tunes: each has its own card now.`
      : "Rendered: the downloads have your edits.";
  }, button);
}

function save(card, asNew) {
  runJob(say(card), "Saving...", async () => {
    const name = $(".name", card).value.trim() || card.tune.title;
    const abc = $(".abc", card).value;
    const starred = $(".star", card).checked;
    let message;
    if (card.saved && !asNew) {
      card.saved = await api("PATCH", `/api/tunes/${card.saved.id}`, { name, abc, starred });
      message = `Saved changes to "${name}".`;
    } else {
      const body = { name, abc, starred, model: card.settings?.model || "" };
      if (card.settings) body.settings = card.settings;
      card.saved = await api("POST", "/api/tunes", body);
      message = asNew ? `Saved a new copy as "${name}".` : `Saved "${name}" to the library.`;
    }
    showSaved(card);
    await loadLibrary();
    return message;
  }, $(".save-button", card));
}

function showTunes(tunes, options = {}) {
  for (const player of players) player.stop();
  players.clear();
  const cards = tunes.map((tune) => tuneCard(tune, {
    ...options,
    settings: options.settings ? { ...options.settings, index: tune.number } : null,
  }));
  $("#tunes").replaceChildren(...cards);
  cards.forEach((card, i) => drawCard(card, tunes[i].abc));
}

// ----------------------------------------------------------------------------------- library
async function loadLibrary() {
  const query = $("#search").value.trim();
  const tunes = await api("GET", `/api/tunes${query ? `?q=${encodeURIComponent(query)}` : ""}`);
  $("#saved").replaceChildren(...tunes.map(savedItem));
  if (!tunes.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = query ? `No saved tune has "${query}".` : "No saved tunes yet.";
    $("#saved").append(empty);
  }
}

function savedMeta(tune) {
  const date = new Date(tune.updated || tune.created).toLocaleDateString(undefined,
    { year: "numeric", month: "short", day: "numeric" });
  const parts = [date];
  if (tune.key) parts.push(keyLabel(tune.key.split(" ")[0]));
  if (tune.meter) parts.push(tune.meter);
  if (tune.model) parts.push(tune.model);
  if (tune.settings && tune.settings.seed !== undefined) parts.push(`seed ${tune.settings.seed}`);
  return parts.join(" · ");
}

// One saved tune in the library list: star, rename (button or Enter), open, delete with undo.
function savedItem(tune) {
  const item = $("#saved-item").content.firstElementChild.cloneNode(true);
  const url = `/api/tunes/${tune.id}`;
  $(".name", item).value = tune.name;
  $(".star", item).checked = tune.starred;
  $(".saved-meta", item).textContent = savedMeta(tune);
  $(".star", item).addEventListener("change", (event) =>
    runJob(libraryStatus, "Saving...", async () => {
      tune = await api("PATCH", url, { starred: event.target.checked });
      return tune.starred ? `Starred "${tune.name}".` : `Unstarred "${tune.name}".`;
    }));
  const rename = () => runJob(libraryStatus, "Saving...", async () => {
    tune = await api("PATCH", url, { name: $(".name", item).value.trim() });
    $(".name", item).value = tune.name;
    return `Renamed to "${tune.name}".`;
  });
  $(".rename", item).addEventListener("click", rename);
  $(".name", item).addEventListener("keydown", (event) => {
    if (event.key === "Enter") rename();
  });
  $(".open", item).addEventListener("click", () =>
    runJob(libraryStatus, "Opening...", async () => {
      const result = await api("POST", "/api/render", { abc: tune.abc });
      const settings = Object.keys(tune.settings || {}).length ? tune.settings : null;
      showTunes(result.tunes.slice(0, 1), { saved: tune });
      const card = $("#tunes .tune");
      if (settings) {
        card.settings = settings;
        $(".meta", card).textContent = settingsLine(settings);
      }
      card.scrollIntoView({ behavior: "smooth", block: "start" });
      return `Opened "${tune.name}".`;
    }));
  $(".delete", item).addEventListener("click", () =>
    runJob(libraryStatus, "Deleting...", async () => {
      await api("DELETE", url);
      item.remove();
      const undo = {
        label: "Undo",
        run: () => runJob(libraryStatus, "Restoring...", async () => {
          await api("POST", `${url}/restore`);
          await loadLibrary();
          return `Restored "${tune.name}".`;
        }),
      };
      libraryStatus(`Deleted "${tune.name}".`, { action: undo });
      setTimeout(() => {
        if ($("#library-status button")) libraryStatus("");
      }, UNDO_MS);
    }));
  return item;
}

// -------------------------------------------------------------------------------- the page
$("#compose-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = composeRequest(event.target);
  runJob(mainStatus, "Composing...", async () => {
    const result = await api("POST", "/api/compose", body);
    showTunes(result.tunes, { settings: result.settings });
    const cut = result.truncated ? `; ${result.truncated} stopped at the length limit` : "";
    return `Composed ${plural(result.tunes.length, "tune")} in ${result.seconds.toFixed(1)} s` +
      ` (seed ${result.settings.seed})${cut}.`;
  }, $("#compose"));
});

$("#model").addEventListener("change", () =>
  runJob(mainStatus, "Loading the model's choices...", async () => { await loadChoices(); return ""; }));
$("#temperature").addEventListener("input", (event) => {
  temperatureMoved = true;
  setTemperature(event.target.value);
});

let searching = null;
$("#search").addEventListener("input", () => {
  clearTimeout(searching);
  searching = setTimeout(() => loadLibrary().catch((err) =>
    libraryStatus(err.message, { error: true })), 200);
});

// Re-flow every sheet when the width changes (turning a phone, resizing a window).
let reflow = null;
window.addEventListener("resize", () => {
  clearTimeout(reflow);
  reflow = setTimeout(() => {
    for (const card of $$("#tunes .tune")) {
      const sheet = $(".sheet", card);
      if (Math.abs(sheetWidth(sheet) - Number(sheet.dataset.width)) > 24 && !card.player.playing) {
        drawCard(card, $(".abc", card).value);
      }
    }
  }, 200);
});

runJob(mainStatus, "Loading...", async () => {
  await Promise.all([loadModels(), loadLibrary()]);
  return "";
}, $("#compose"));
