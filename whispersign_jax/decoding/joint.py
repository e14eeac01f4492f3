"""CTC prefix scores for joint CTC/attention beam search (the hybrid scheme).

For a hypothesis ``h`` the CTC prefix score ``psi(h)`` is the probability that the CTC
output starts with ``h``: the sum over every alignment of ``h`` followed by anything. The
scorer keeps, per beam, the forward variables of ``h`` over all encoder positions (paths that
end in a gloss, ``r_gloss``, and in a blank, ``r_blank``) and extends them by every gloss at
once, so each decoding step adds ``psi(h + c) - psi(h)`` for every candidate ``c`` and
``log p_ctc(h) - psi(h)`` for ``<eos>``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from whispersign_jax.vocab import BLANK_ID

NEG_INF = -jnp.inf


@dataclasses.dataclass(frozen=True)
class CtcPrefixScorer:
    log_probs: jax.Array  # (batch, positions, 1 + glosses) float32 CTC log-probabilities
    encoder_mask: jax.Array  # (batch, positions) bool
    decoder_size: int
    eos_id: int

    def init(self, batch: int, beam: int) -> dict:
        """Forward variables of the empty prefix: only blanks so far."""
        blank = jnp.where(self.encoder_mask, self.log_probs[..., BLANK_ID], 0.0)
        r_blank = jnp.cumsum(blank, axis=1)  # (batch, positions)
        return {
            "r_gloss": jnp.full((batch, beam, blank.shape[1]), NEG_INF),
            "r_blank": jnp.broadcast_to(r_blank[:, None, :], (batch, beam, blank.shape[1])),
            "psi": jnp.zeros((batch, beam)),
        }

    def extend(self, state: dict, tokens: jax.Array, step: jax.Array):
        """Score gains (batch, beam, decoder_size) for every next token, and the forward
        variables of every one-gloss extension (for ``select``). ``tokens`` (batch, beam, L)
        hold the hypotheses, ``step`` their common length."""
        glosses_lp = self.log_probs[..., 1:]  # (batch, T, G)
        blank_lp = self.log_probs[..., BLANK_ID]  # (batch, T)
        num_glosses = glosses_lp.shape[-1]
        last = jnp.where(step > 0, tokens[..., jnp.maximum(step - 1, 0)], -1)  # (batch, beam)
        repeat = (jnp.arange(1, num_glosses + 1) == last[..., None])[..., None]  # (b, k, G, 1)
        r_gloss, r_blank = state["r_gloss"][:, :, None, :], state["r_blank"][:, :, None, :]
        # phi_t: prefix h has been emitted by position t and c may start next.
        phi = jnp.where(repeat, r_blank, jnp.logaddexp(r_gloss, r_blank))  # (b, k, G, T)
        phi = jnp.broadcast_to(phi, (*phi.shape[:2], num_glosses, phi.shape[-1]))
        start = jnp.where(step == 0, glosses_lp[:, None, 0, :], NEG_INF)  # (b, 1, G)
        start = jnp.broadcast_to(start, phi.shape[:3])

        def position(carry, inputs):
            new_gloss, new_blank, psi = carry  # each (b, k, G)
            phi_before, gloss_t, blank_t, valid_t = inputs
            enter = phi_before + gloss_t[:, None, :]  # first emission of c at t
            gloss = jnp.logaddexp(new_gloss + gloss_t[:, None, :], enter)
            blank = jnp.logaddexp(new_blank, new_gloss) + blank_t[:, None, None]
            keep = valid_t[:, None, None]
            carry = (
                jnp.where(keep, gloss, new_gloss),
                jnp.where(keep, blank, new_blank),
                jnp.where(keep, jnp.logaddexp(psi, enter), psi),
            )
            return carry, carry[:2]

        inputs = (
            jnp.moveaxis(phi[..., :-1], -1, 0),
            jnp.moveaxis(glosses_lp[:, 1:], 1, 0),
            jnp.moveaxis(blank_lp[:, 1:], 1, 0),
            jnp.moveaxis(self.encoder_mask[:, 1:], 1, 0),
        )
        init = (start, jnp.full_like(start, NEG_INF), start)
        (_, _, psi), (gloss_seq, blank_seq) = jax.lax.scan(position, init, inputs)
        r_gloss_new = jnp.concatenate([start[None], gloss_seq])  # (T, b, k, G)
        r_blank_new = jnp.concatenate([jnp.full_like(start, NEG_INF)[None], blank_seq])
        full = jnp.logaddexp(state["r_gloss"][..., -1], state["r_blank"][..., -1])  # (b, k)
        previous = state["psi"]
        alive = jnp.isfinite(previous)[..., None]
        gain = jnp.full((*phi.shape[:2], self.decoder_size), NEG_INF)
        gain = gain.at[..., 1 : num_glosses + 1].set(
            jnp.where(alive, psi - previous[..., None], NEG_INF)
        )
        gain = gain.at[..., self.eos_id].set(jnp.where(alive[..., 0], full - previous, NEG_INF))
        candidates = {
            "r_gloss": jnp.moveaxis(r_gloss_new, 0, -1),  # (b, k, G, T)
            "r_blank": jnp.moveaxis(r_blank_new, 0, -1),
            "psi": psi,
        }
        return gain, candidates

    def select(self, state: dict, candidates: dict, source: jax.Array, token: jax.Array) -> dict:
        """Forward variables of the chosen extensions (batch, beam); a hypothesis that ended
        or emitted ``<eos>`` keeps those of its source beam."""
        batch = jnp.arange(source.shape[0])[:, None]
        num_glosses = candidates["psi"].shape[-1]
        is_gloss = (token >= 1) & (token <= num_glosses)
        gloss = jnp.clip(token - 1, 0, num_glosses - 1)
        out = {}
        for name in ("r_gloss", "r_blank", "psi"):
            extended = candidates[name][batch, source, gloss]
            kept = state[name][batch, source]
            mask = is_gloss.reshape(is_gloss.shape + (1,) * (kept.ndim - 2))
            out[name] = jnp.where(mask, extended, kept)
        return out
