// Mirrors whispersign_jax/extraction/tracks.py: the number of frames of the fixed-rate grid
// that resampling_times lays over a stretch of camera frames. Held to the Python by
// tests/serve/test_js_tracks_parity.py.

/** Grid frames from the first to the last input time (len(resampling_times)): the last one
 * may lie up to a quarter period after the last input, so that millisecond timestamps still
 * give one grid frame per input frame. Times in seconds, float64 as in NumPy. */
export function resampledFrames(firstTime, lastTime, fps) {
  const duration = lastTime - firstTime;
  return Math.floor(duration * fps + 0.25) + 1;
}
