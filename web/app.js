// kerasseg's zoo in the browser: MediaPipe Tasks' ImageSegmenter runs a zoo .tflite file on a
// photo or the webcam and draws its category mask over the picture. Served by `kerasseg web`,
// which also hands out the runtime (npm's @mediapipe/tasks-vision, never a CDN), the zoo's files
// and /models.json. No build step: the browser loads this module as it is.
import { FilesetResolver, ImageSegmenter } from "./tasks-vision/vision_bundle.mjs";

// Class 0 (background) is left transparent; the rest get distinct colours.
const COLORS = [[0, 0, 0], [255, 48, 48], [40, 140, 255], [40, 200, 90], [255, 190, 0],
  [190, 70, 255], [0, 200, 200], [255, 120, 200], [140, 90, 40], [120, 120, 120]];
const MAX_VIEW_WIDTH = 720;

const $ = (id) => document.getElementById(id);
const input = document.createElement("canvas");    // the model's input: the picture resized to it
const maskCanvas = document.createElement("canvas");
let vision = null;
let segmenter = null;
let current = null;        // the /models.json entry in use
let labels = [];
let webcam = null;         // {stream, frameTimes} while the webcam runs
let lastPicture = null;    // redrawn when the overlay box is toggled
let lastMask = null;

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function color(id) {
  return COLORS[id % COLORS.length];
}

function showLabels() {
  const box = $("labels");
  box.replaceChildren(...labels.map((name, id) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    const [r, g, b] = color(id);
    swatch.style.background = id === 0 ? "transparent" : `rgb(${r},${g},${b})`;
    swatch.style.border = "1px solid #999";
    item.append(swatch, `${id} ${name}`);
    item.dataset.label = name;
    return item;
  }));
  const expected = current.labels.join("\n");
  if (labels.join("\n") !== expected) {
    status(`${current.url}: the file's metadata names the classes ${JSON.stringify(labels)}, ` +
           `its card ${JSON.stringify(current.labels)}`, true);
  }
}

async function load(name, variant) {
  const entry = window.kerasseg.models.find((m) => m.name === name && m.variant === variant);
  if (!entry) throw new Error(`no zoo file ${name} (${variant}) is served here`);
  stopWebcam();
  status(`Loading ${name} (${variant})…`);
  if (segmenter) segmenter.close();
  segmenter = null;
  // The CPU delegate: the same arithmetic as LiteRT on a phone's CPU, so masks match the
  // Python runner's; the GPU delegate computes in float16 and differs at the edges.
  segmenter = await ImageSegmenter.createFromOptions(vision, {
    baseOptions: { modelAssetPath: entry.url, delegate: "CPU" },
    runningMode: "IMAGE", outputCategoryMask: true, outputConfidenceMasks: false,
  });
  current = entry;
  labels = segmenter.getLabels();
  input.width = entry.width;
  input.height = entry.height;
  showLabels();
  if (!$("status").classList.contains("error")) {
    status(`${name} (${variant}), ${entry.width}x${entry.height} input: pick a photo or the webcam`);
  }
  $("model").value = `${name}|${variant}`;
  return labels;
}

// Draws `picture` into the model's input canvas (the browser filters the resize, as the models
// were trained on antialiased resizes) and segments it. Returns the category mask at input size.
function segment(picture, timestamp) {
  const context = input.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(picture, 0, 0, input.width, input.height);
  const start = performance.now();
  const result = timestamp === undefined ? segmenter.segment(input)
    : segmenter.segmentForVideo(input, timestamp);
  const mask = result.categoryMask.getAsUint8Array().slice();   // copied: close() frees it
  const ms = performance.now() - start;
  result.close();
  return { mask, width: input.width, height: input.height, ms };
}

function draw(picture, result) {
  const view = $("view");
  const width = picture.videoWidth || picture.naturalWidth || picture.width;
  const height = picture.videoHeight || picture.naturalHeight || picture.height;
  const scale = Math.min(1, MAX_VIEW_WIDTH / width);
  view.width = Math.round(width * scale);
  view.height = Math.round(height * scale);
  const context = view.getContext("2d");
  context.drawImage(picture, 0, 0, view.width, view.height);
  if (!$("overlay").checked) return;
  maskCanvas.width = result.width;
  maskCanvas.height = result.height;
  const pixels = new ImageData(result.width, result.height);
  for (let i = 0; i < result.mask.length; i++) {
    const id = result.mask[i];
    if (id === 0) continue;
    const [r, g, b] = color(id);
    pixels.data.set([r, g, b, 130], i * 4);
  }
  maskCanvas.getContext("2d").putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = false;   // class ids have no in-between
  context.drawImage(maskCanvas, 0, 0, view.width, view.height);
}

async function showPicture(picture) {
  stopWebcam();
  const result = segment(picture);
  lastPicture = picture;
  lastMask = result;
  draw(picture, result);
  $("ms").textContent = `${result.ms.toFixed(1)} ms (${current.name}, ${current.variant})`;
  return result;
}

async function pictureFromUrl(url) {
  const picture = new Image();
  picture.src = url;
  await picture.decode();
  return picture;
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(text);
}

async function startWebcam() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  await segmenter.setOptions({ runningMode: "VIDEO" });
  webcam = { stream, frameTimes: [], frames: 0 };
  $("webcam").textContent = "Stop webcam";
  let lastTime = -1;
  const frame = () => {
    if (!webcam || webcam.stream !== stream) return;
    if (video.currentTime !== lastTime && video.videoWidth > 0) {
      lastTime = video.currentTime;
      const result = segment(video, performance.now());
      draw(video, result);
      webcam.frames += 1;
      webcam.frameTimes = [...webcam.frameTimes.slice(-29), result.ms];
      const mean = webcam.frameTimes.reduce((a, b) => a + b, 0) / webcam.frameTimes.length;
      $("ms").textContent = `${mean.toFixed(1)} ms (webcam, mean of the last ` +
        `${webcam.frameTimes.length} frames; ${current.name}, ${current.variant})`;
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function stopWebcam() {
  if (!webcam) return;
  webcam.stream.getTracks().forEach((track) => track.stop());
  webcam = null;
  $("webcam").textContent = "Webcam";
  if (segmenter) segmenter.setOptions({ runningMode: "IMAGE" });
}

function fail(error) {
  status(String(error && error.message ? error.message : error), true);
  console.error(error);
}

async function main() {
  const response = await fetch("models.json");
  const models = await response.json();
  window.kerasseg.models = models;
  if (models.length === 0) throw new Error("the server offers no zoo TFLite files");
  $("model").replaceChildren(...models.map((m) => new Option(
    `${m.name} (${m.variant}, ${m.width}x${m.height})`, `${m.name}|${m.variant}`)));
  vision = await FilesetResolver.forVisionTasks(new URL("tasks-vision/wasm", location.href).href);
  const first = models.find((m) => m.variant === "int8") || models[0];
  await load(first.name, first.variant);

  $("model").addEventListener("change", () => {
    const [name, variant] = $("model").value.split("|");
    load(name, variant).then(() => lastPicture && showPicture(lastPicture)).catch(fail);
  });
  $("photo").addEventListener("change", () => {
    const file = $("photo").files[0];
    if (!file) return;
    const url = URL.createObjectURL(file);
    pictureFromUrl(url).then(showPicture)
      .catch(() => fail(`${file.name}: the browser cannot read it as an image`))
      .finally(() => URL.revokeObjectURL(url));
  });
  $("webcam").addEventListener("click", () => {
    if (webcam) stopWebcam();
    else startWebcam().catch((error) => fail(`webcam: ${error.message || error}`));
  });
  $("overlay").addEventListener("change", () => lastPicture && lastMask && draw(lastPicture, lastMask));
}

// What scripts (and tests/test_web.py, through the DevTools protocol) can call on the page.
window.kerasseg = {
  models: [],
  load,
  labelsShown: () => [...document.querySelectorAll("#labels span")].map((s) => s.dataset.label),
  // Segments the image at `url` as the photo picker does; the mask comes back in base64.
  segmentUrl: async (url) => {
    const result = await showPicture(await pictureFromUrl(url));
    return { width: result.width, height: result.height, ms: result.ms, labels,
             mask: toBase64(result.mask) };
  },
  startWebcam,
  stopWebcam,
  webcamFrames: () => (webcam ? webcam.frames : 0),
};
window.kerasseg.ready = main().catch((error) => { fail(error); throw error; });
