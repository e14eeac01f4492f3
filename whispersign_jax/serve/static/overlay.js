// The tracked hands drawn over the video: bones (keypoints.HAND_BONES, from the settings) and
// joints, the signer's left hand in one colour and the right in another.
const SLOT_COLOURS = ["#3fa7ff", "#ff7a3f"]; // left, right (anatomical)

/** Draws positions (2 * 21 * 3, normalised image coordinates) where presence (2) > 0. */
export function drawHands(canvas, positions, presence, settings) {
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const joints = settings.joints_per_hand;
  for (let slot = 0; slot < 2; slot++) {
    if (!(presence[slot] > 0)) continue;
    const point = (joint) => {
      const i = (slot * joints + joint) * 3;
      return [positions[i] * canvas.width, positions[i + 1] * canvas.height];
    };
    context.strokeStyle = context.fillStyle = SLOT_COLOURS[slot];
    context.lineWidth = Math.max(2, canvas.width / 240);
    context.beginPath();
    for (const [parent, child] of settings.hand_bones) {
      context.moveTo(...point(parent));
      context.lineTo(...point(child));
    }
    context.stroke();
    for (let joint = 0; joint < joints; joint++) {
      const [x, y] = point(joint);
      context.beginPath();
      context.arc(x, y, context.lineWidth * 1.5, 0, 2 * Math.PI);
      context.fill();
    }
  }
}
