"""Spelled pitch classes on the line of fifths, for chord roots and keys (C=0, G=1, F=-1, F#=6, Bb=-2, ...).

Names follow music21/AugmentedNet: '#' sharp, '-' flat ('B-', 'E--', 'F##'). The class lists are the SMC
benchmark's own ids, kept so results are comparable with the published tables.
"""

from __future__ import annotations

LETTERS = "FCGDAEB"  # tpc -1..5

# Chord-root ids 1..35 (0 = pad), as in the SMC benchmark.
ROOTS = ["pad", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
         "B#", "D-", "E--", "E-", "F-", "E#", "G-", "A--", "A-", "B--", "B-", "C-",
         "D--", "B##", "C##", "F--", "D##", "G--", "E##", "F##", "G##", "C--", "A##"]
ROOT_ID = {name: i for i, name in enumerate(ROOTS)}
# Local-key ids 1..37 (0 = pad): upper case major, lower case minor.
KEYS = ["pad", "b", "A-", "f", "c", "D-", "d", "F", "A", "E", "C", "B-", "a", "c#", "D", "G-", "G", "e-",
        "E-", "g", "b-", "F#", "d#", "B", "f#", "C-", "e", "a-", "g#", "d-", "D#", "C#", "a#", "b#", "e#",
        "g-", "G#", "F-"]
KEY_ID = {name: i for i, name in enumerate(KEYS)}

MAJOR_DEGREES = {1: 0, 2: 2, 3: 4, 4: -1, 5: 1, 6: 3, 7: 5}
NATURAL_MINOR_DEGREES = {1: 0, 2: 2, 3: -3, 4: -1, 5: 1, 6: -4, 7: -2}
HARMONIC_MINOR_DEGREES = {**NATURAL_MINOR_DEGREES, 7: 5}
ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}


def tpc_name(tpc: int) -> str:
    k, i = divmod(tpc + 1, 7)
    return LETTERS[i] + ("#" * k if k > 0 else "-" * (-k))


def name_tpc(name: str) -> int:
    """'E-' / 'Eb' / 'F#' / 'F+' / 'c#' -> tpc (case ignored)."""
    letter, acc = name[0].upper(), name[1:]
    sharps = acc.count("#") + acc.count("+") - acc.count("-") - acc.count("b")
    return LETTERS.index(letter) - 1 + 7 * sharps


def key_name(tpc: int, minor: bool) -> str:
    name = tpc_name(tpc)
    return name.lower() if minor else name


def roman_tpc(numeral: str, tonic: int, minor: bool) -> tuple[int, bool]:
    """A DCML-style key numeral ('bVI', '#iv', 'V/V') relative to a key -> (tonic tpc, is_minor).

    Minor keys use natural-minor degrees (DCML's convention); lower case means a minor key.
    """
    if "/" in numeral:
        head, tail = numeral.split("/", 1)
        tonic, minor = roman_tpc(tail, tonic, minor)
        numeral = head
    shift = 7 * (numeral.count("#") - numeral.count("b"))
    core = numeral.lstrip("#b")
    degrees = NATURAL_MINOR_DEGREES if minor else MAJOR_DEGREES
    return tonic + degrees[ROMAN[core.upper()]] + shift, core.islower()


def degree_tpc(degree: str, tonic: int, minor: bool) -> int:
    """A BPS-FH degree ('5', '-2', '+4', '7/5') relative to a key -> root tpc (minor = harmonic minor)."""
    if "/" in degree:
        head, tail = degree.split("/", 1)
        tonic = degree_tpc(tail, tonic, minor)
        minor = False  # secondary degrees here are 5 and 7 (and 4), whose roots do not depend on the mode
        degree = head
    shift = 7 * (degree.count("+") - degree.count("-"))
    degrees = HARMONIC_MINOR_DEGREES if minor else MAJOR_DEGREES
    return tonic + degrees[int(degree.lstrip("+-"))] + shift
