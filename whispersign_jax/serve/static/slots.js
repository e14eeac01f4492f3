// MediaPipe hand detections -> the two anatomical hand slots. Mirrors
// whispersign_jax/extraction/slots.py (label_to_slot, SlotAssigner, _distinct_hands,
// _split_same_label): the same rules, held to it by tests/serve/test_js_parity.py. Settings
// come from whispersign_web.json (joints_per_hand, wrist, slots).
const LEFT_SLOT = 0;
const RIGHT_SLOT = 1;

/** The anatomical slot (0 left, 1 right) of a MediaPipe handedness label (label_to_slot).
 * `labelsAssumeMirrored`: the backend's labels are right for a mirrored (selfie) image. */
export function labelToSlot(label, mirrored, labelsAssumeMirrored) {
  if (label !== "Left" && label !== "Right") {
    throw new Error(`unknown MediaPipe handedness label '${label}', expected Left or Right`);
  }
  const isLeft = (label === "Left") === (mirrored === labelsAssumeMirrored);
  return isLeft ? LEFT_SLOT : RIGHT_SLOT;
}

/** Distance of two points in the image plane (x, y), as np.linalg.norm computes it. */
function imageDistance(a, b) {
  const dx = a[0] - b[0];
  const dy = a[1] - b[1];
  return Math.sqrt(dx * dx + dy * dy);
}

/** Mean image-plane distance of the joints of two (J, 3) landmark lists. */
function meanDistance(a, b) {
  let sum = 0;
  for (let j = 0; j < a.length; j++) sum += imageDistance(a[j], b[j]);
  return sum / a.length;
}

/** The shape of nested landmark arrays, as NumPy would print it. */
function shapeOf(landmarks) {
  const widths = new Set(landmarks.map((point) => (Array.isArray(point) ? point.length : 0)));
  if (widths.size !== 1) return `${landmarks.length} rows of different lengths`;
  return `(${landmarks.length}, ${[...widths][0]})`;
}

/** Assigns each frame's detections to slots, remembering the previous frame's wrists. */
export class SlotAssigner {
  /** `mirrored`: the image is a selfie view (mirrored like a mirror). */
  constructor(settings, mirrored) {
    this.joints = settings.joints_per_hand;
    this.wrist = settings.wrist;
    this.duplicateDistance = settings.slots.duplicate_distance;
    this.minConfidence = settings.slots.min_confidence;
    this.labelsAssumeMirrored = settings.slots.labels_assume_mirrored;
    this.mirrored = mirrored;
    this.previousWrists = new Map(); // slot -> [x, y] of the last frame
  }

  /** detections [{landmarks (21, 3) nested arrays, label, score}] -> {positions
   * Float32Array (2, 21, 3) row-major, presence Float32Array (2)} (0 where a slot has no hand). */
  assign(detections) {
    const hands = this.distinctHands(detections);
    const slotOf = (hand) => labelToSlot(hand.label, this.mirrored, this.labelsAssumeMirrored);
    let slots = hands.map(slotOf);
    if (hands.length === 2 && slots[0] === slots[1]) slots = this.splitSameLabel(hands);
    const positions = new Float32Array(2 * this.joints * 3); // (slots, joints, xyz)
    const presence = new Float32Array(2);
    hands.forEach((hand, i) => {
      positions.set(hand.landmarks.flat(), slots[i] * this.joints * 3);
      presence[slots[i]] = Math.min(Math.max(hand.score, this.minConfidence), 1);
    });
    this.previousWrists = new Map(
      hands.map((hand, i) => [slots[i], hand.landmarks[this.wrist].slice(0, 2)]),
    );
    return {positions, presence};
  }

  /** At most two finite detections, best score first, one per physical hand (_distinct_hands). */
  distinctHands(detections) {
    const allFinite = (hand) => hand.landmarks.flat(Infinity).every(Number.isFinite);
    const finite = detections.filter(allFinite);
    const bestFirst = finite
      .map((hand, index) => ({hand, index}))
      .sort((a, b) => b.hand.score - a.hand.score || a.index - b.index)
      .map(({hand}) => hand);
    const hands = [];
    for (const hand of bestFirst) {
      const {landmarks} = hand;
      if (landmarks.length !== this.joints || landmarks.some((point) => point.length !== 3)) {
        const shape = shapeOf(landmarks);
        throw new Error(`a hand detection needs (${this.joints}, 3) landmarks, got ${shape}`);
      }
      const isNear = (kept) => meanDistance(landmarks, kept.landmarks) < this.duplicateDistance;
      const duplicate = hands.some(isNear);
      if (!duplicate) hands.push(hand);
      if (hands.length === 2) break;
    }
    return hands;
  }

  /** Slots for two hands with the same label: tracking continuity, else image side
   * (_split_same_label). */
  splitSameLabel(hands) {
    const wrists = hands.map((hand) => hand.landmarks[this.wrist]);
    const previous = this.previousWrists;
    if (previous.size) {
      // Cost of keeping the order (hand 0 -> left slot) versus swapping it.
      const distance = (hand, slot) => imageDistance(wrists[hand], previous.get(slot));
      const cost = (order) =>
        order.reduce((sum, slot, hand) => sum + (previous.has(slot) ? distance(hand, slot) : 0), 0);
      const inOrder = cost([LEFT_SLOT, RIGHT_SLOT]) <= cost([RIGHT_SLOT, LEFT_SLOT]);
      return inOrder ? [LEFT_SLOT, RIGHT_SLOT] : [RIGHT_SLOT, LEFT_SLOT];
    }
    // Facing the camera, the signer's right hand is on the image's left (smaller x);
    // a mirrored image shows it on the right.
    const firstIsLeftmost = wrists[0][0] <= wrists[1][0];
    const leftmostSlot = this.mirrored ? LEFT_SLOT : RIGHT_SLOT;
    const otherSlot = 1 - leftmostSlot;
    return firstIsLeftmost ? [leftmostSlot, otherSlot] : [otherSlot, leftmostSlot];
  }
}
