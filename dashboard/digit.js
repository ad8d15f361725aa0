/**
 * A drawing pad for digits, and its conversion to what an MNIST model saw in training: 28x28
 * grayscale 0-255, white on black, the digit scaled to fit a 20x20 box and centred by its
 * centre of mass (how the MNIST images were made).
 */
export function drawingPad(canvas, onStroke) {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = canvas.width / 14;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  let drawing = false;
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    drawing = true;
    canvas.setPointerCapture?.(e.pointerId);
    const [x, y] = point(e);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [x, y] = point(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    onStroke();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  return { clear };
}

/** The pad as 28 rows of 28 values 0-255, or null when nothing is drawn. `preview` (28x28) shows it. */
export function mnistPixels(canvas, preview) {
  const { width, height } = canvas;
  const src = canvas.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, width, height).data;
  let minX = width,
    minY = height,
    maxX = -1,
    maxY = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (src[(y * width + x) * 4] > 16) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  if (maxX < 0) return null;
  const w = maxX - minX + 1;
  const hh = maxY - minY + 1;
  const scale = 20 / Math.max(w, hh);
  // Scale the ink's bounding box into 20x20 (smoothing gives the anti-aliased grey edges MNIST has).
  const box = document.createElement('canvas');
  box.width = box.height = 28;
  const b = box.getContext('2d', { willReadFrequently: true });
  b.fillStyle = '#000';
  b.fillRect(0, 0, 28, 28);
  b.imageSmoothingEnabled = true;
  b.imageSmoothingQuality = 'high';
  b.drawImage(canvas, minX, minY, w, hh, (28 - w * scale) / 2, (28 - hh * scale) / 2, w * scale, hh * scale);
  // Then shift so the centre of mass sits at the centre.
  const data = b.getImageData(0, 0, 28, 28).data;
  let mass = 0,
    cx = 0,
    cy = 0;
  for (let i = 0; i < 784; i++) {
    const v = data[i * 4];
    mass += v;
    cx += v * (i % 28);
    cy += v * Math.floor(i / 28);
  }
  const dx = Math.round(13.5 - cx / mass);
  const dy = Math.round(13.5 - cy / mass);
  const out = document.createElement('canvas');
  out.width = out.height = 28;
  const o = out.getContext('2d', { willReadFrequently: true });
  o.fillStyle = '#000';
  o.fillRect(0, 0, 28, 28);
  o.drawImage(box, dx, dy);
  const pixels = o.getImageData(0, 0, 28, 28).data;
  if (preview) preview.getContext('2d').drawImage(out, 0, 0);
  return Array.from({ length: 28 }, (_, y) => Array.from({ length: 28 }, (_, x) => pixels[(y * 28 + x) * 4]));
}
