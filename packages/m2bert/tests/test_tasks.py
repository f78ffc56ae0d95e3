"""The corpus-derived SATB voice task: labels align with tokens and order the voices by pitch."""

import numpy as np
from m2bert.tasks import chorale_voice_examples


def test_chorale_voices(m21_midis):
    examples = chorale_voice_examples(m21_midis)
    assert examples, "no four-part piece among the first corpus files"
    for tokens, labels in examples:
        assert tokens.shape == (len(labels), 4)
        assert set(np.unique(labels)) == {0, 1, 2, 3}
        mean_pitch = [tokens[labels == v, 2].mean() for v in range(4)]
        assert mean_pitch[0] > mean_pitch[3], "soprano (class 0) should lie above bass (class 3)"
