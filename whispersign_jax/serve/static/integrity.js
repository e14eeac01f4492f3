// The page's check of its model files: each file it fetches must have the SHA-256 that
// whispersign_web.json records for it (export/web.py writes them), or it is refused before
// ONNX Runtime Web opens it. Browsers give crypto.subtle to localhost and https pages only.

const SETTINGS_FILE = "whispersign_web.json";
const AGAIN = "restart whispersign-serve, which exports the model again";

/** The SHA-256 of `bytes` (an ArrayBuffer or typed array) as 64 hex digits. */
export async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) {
    throw new Error(
      "this page checks its model files with the browser's SHA-256 (crypto.subtle), which " +
        "browsers give to localhost and https pages only: open it on this machine, or " +
        "through an SSH tunnel to localhost or an https proxy",
    );
  }
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  const hex = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0"));
  return hex.join("");
}

/** `bytes` of `file` when their SHA-256 is the one `settings.sha256` records; otherwise an
 * Error naming the file, both digests and what to do. */
export async function verifiedBytes(file, bytes, settings) {
  const expected = settings.sha256?.[file];
  if (typeof expected !== "string") {
    throw new Error(`${file}: ${SETTINGS_FILE} records no SHA-256 for it; ${AGAIN}`);
  }
  const actual = await sha256Hex(bytes);
  if (actual !== expected) {
    throw new Error(
      `${file}: its SHA-256 is ${actual}, ${SETTINGS_FILE} records ${expected}: the file was ` +
        `damaged or changed after the export; ${AGAIN}`,
    );
  }
  return bytes;
}

/** The bytes of `file` under the URL `base`, once checked (verifiedBytes). */
export async function fetchVerified(base, file, settings) {
  const response = await fetch(`${base}${file}`);
  if (!response.ok) throw new Error(`${base}${file}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return verifiedBytes(file, bytes, settings);
}
