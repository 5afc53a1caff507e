"""The shipped alias table and AliasTable's groups, topics and file checks."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from bot.core.aliases import AliasGroup, AliasTable
from bot.core.text import normalize

TABLE = AliasTable.load()
TOPICS = ("defence", "economy", "politics", "technology")
KIDA_NAMES = ("KIDA", "Korea Institute for Defense Analyses", "한국국방연구원")


# --- the shipped table ---


def test_table_has_at_least_100_groups_with_two_names_and_a_topic_each() -> None:
    assert len(TABLE) >= 100
    for group in TABLE.groups:
        assert len(group.names) >= 2, group
        assert group.topic in TOPICS, group


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_is_well_covered(topic: str) -> None:
    assert TABLE.topics == TOPICS
    assert sum(group.topic == topic for group in TABLE.groups) >= 20


def test_no_name_is_in_two_groups() -> None:
    # `load` refuses such a file; this says which names clash if it ever does not.
    owners: dict[str, list[tuple[str, ...]]] = {}
    for group in TABLE.groups:
        for name in group.names:
            owners.setdefault(normalize(name), []).append(group.names)
    assert {key: groups for key, groups in owners.items() if len(groups) > 1} == {}


def test_the_founding_example_is_one_group() -> None:
    groups = [group for group in TABLE.groups if "KIDA" in group.names]
    assert len(groups) == 1
    assert set(KIDA_NAMES) <= set(groups[0].names)
    assert groups[0].topic == "defence"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("KIDA", {"Korea Institute for Defense Analyses", "한국국방연구원"}),
        ("korea institute for defense analyses", {"KIDA", "한국국방연구원"}),
        ("한국국방연구원", {"KIDA", "Korea Institute for Defense Analyses"}),
        ("JCS", {"Joint Chiefs of Staff", "합동참모본부", "합참"}),
        ("합참", {"JCS", "Joint Chiefs of Staff"}),
        ("IISS", {"International Institute for Strategic Studies"}),
        ("nato", {"North Atlantic Treaty Organization", "북대서양조약기구"}),
        ("DAPA", {"Defense Acquisition Program Administration", "방위사업청", "방사청"}),
        ("Federal Reserve", {"연준"}),
        ("KEPCO", {"Korea Electric Power Corporation", "한전"}),
        ("삼성전자", {"Samsung Electronics"}),
        ("Ministry of Science and ICT", {"MSIT", "과학기술정보통신부"}),
        ("더불어민주당", {"Democratic Party of Korea"}),
    ],
)
def test_expand_by_acronym_full_name_or_korean_name(name: str, expected: set[str]) -> None:
    names = TABLE.expand(name)
    assert names[0] == name
    assert expected <= set(names[1:])


@pytest.mark.parametrize("word", ["add", "who", "un", "fed", "sec", "mou", "imo", "gist", "kai"])
def test_acronyms_that_are_everyday_words_are_left_out(word: str) -> None:
    assert TABLE.expand(word) == (word,)


def test_full_names_of_left_out_acronyms_are_kept() -> None:
    assert "국방과학연구소" in TABLE.expand("Agency for Defense Development")
    assert "세계보건기구" in TABLE.expand("World Health Organization")


def test_file_header_states_the_everyday_word_rule() -> None:
    raw = resources.files("bot.core").joinpath("aliases.toml").read_text(encoding="utf-8")
    header = raw.split("\n[[group]]", 1)[0]
    assert "everyday" in header
    assert '"ADD"' in header


# --- AliasGroup, groups and topics ---


def test_from_groups_keeps_topic_and_note_of_alias_groups() -> None:
    group = AliasGroup(("A1", "Alpha One"), topic="defence", note="test")
    table = AliasTable.from_groups([group, ["B2", "Bravo Two"]])
    assert table.groups == (group, AliasGroup(("B2", "Bravo Two")))
    assert table.topics == ("defence",)


def test_groups_layer_extra_aliases_over_a_loaded_table() -> None:
    layered = AliasTable.from_groups([*TABLE.groups, ("KIDA", "Korea Defense Institute")])
    assert len(layered) == len(TABLE) + 1
    assert layered.expand("KIDA") == (*KIDA_NAMES, "Korea Defense Institute")
    # One hop: the learned name reaches KIDA, not the other names of KIDA's group.
    assert layered.expand("Korea Defense Institute") == ("Korea Defense Institute", "KIDA")


def test_from_groups_validates_alias_groups_too() -> None:
    with pytest.raises(ValueError, match="at least two names"):
        AliasTable.from_groups([AliasGroup(("KIDA",))])


def test_load_reads_topic_and_note(tmp_path: Path) -> None:
    path = tmp_path / "aliases.toml"
    path.write_text(
        '[[group]]\nnames = ["A1", "Alpha One"]\ntopic = "defence"\nnote = "n"\n'
        '[[group]]\nnames = ["B2", "Bravo Two"]\n',
        encoding="utf-8",
    )
    table = AliasTable.load(path)
    assert table.groups == (
        AliasGroup(("A1", "Alpha One"), "defence", "n"),
        AliasGroup(("B2", "Bravo Two")),
    )
    assert table.topics == ("defence",)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[[group]]\nnames = ["A", "B"]\ntopic = 1', "`topic` must be a string"),
        ('[[group]]\nnames = ["A", "B"]\ntopic = " "', "`topic` must not be empty"),
        ('[[group]]\nnames = ["A", "B"]\ntopics = "x"', "unknown keys"),
        ("[[group]]\nnames = []", "at least two names"),
        ('group = ["A", "B"]', "group 1: expected a table"),
        ('[[group]]\nnames = ["KIDA", "Kida"]', "'Kida' is already listed as 'KIDA' in group 1"),
        (
            '[[group]]\nnames = ["A1", "Alpha One"]\n[[group]]\nnames = ["B2", "alpha-one"]',
            "group 2: 'alpha-one' is already listed as 'Alpha One' in group 1",
        ),
        ("[[group]\nnames = [", "Expected"),  # TOML syntax
        ('[group]\nnames = ["A", "B"]', "array of tables"),
        ('[[group]]\nname = ["A", "B"]', "unknown keys"),
        ("[[group]]\nnote = 'no names'", "`names` must be a list"),
        ('[[group]]\nnames = "A, B"', "`names` must be a list"),
        ('[[group]]\nnames = ["A"]', "at least two names"),
        ('[[group]]\nnames = ["A", 1]', "not a name"),
        ('[[group]]\nnames = ["A", "!!"]', "not a name"),
        ('[[group]]\nnames = ["A", "B"]\nnote = 3', "`note` must be a string"),
        ('[[groups]]\nnames = ["A", "B"]', "unknown top-level keys"),
    ],
)
def test_load_refuses_a_malformed_file_naming_it_and_the_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as caught:
        AliasTable.load(path)
    assert str(caught.value).startswith(f"{path}: ")
