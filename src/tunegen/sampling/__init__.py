"""One sampler for ABC and MIDI: batched stepping, the ABC grammar, form control, tunebooks."""
