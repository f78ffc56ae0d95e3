import pytest


@pytest.fixture(scope="session")
def piano_midis(data_root):
    """A handful of real piano performances (ASAP), sorted for determinism."""
    files = sorted((data_root / "asap" / "Chopin").rglob("*.mid"))[:6]
    if len(files) < 3:
        pytest.skip("ASAP Chopin performances missing from the shared data")
    return files


@pytest.fixture(scope="session")
def tokenizer():
    symtok_aria = pytest.importorskip("symtok.aria", reason="symtok.aria (AbsTokenizer) not installed")
    return symtok_aria.AbsTokenizer()
