"""Sanctions screening: the OFAC SDN.CSV format parsed as published, and names matched
across scripts, word order and legal forms without matching names that merely share a word."""

from __future__ import annotations

import pytest

from finbot.agents.sanctions import (
    SanctionedParty,
    SanctionsList,
    load_sample,
    name_key,
    parse_sdn,
    screen_finding,
)
from finbot.domain.errors import InvalidInput

SDN = (
    '36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    '173,"ANGLO-CARIBBEAN CO., LTD.","-0- ","CUBA","-0- ","-0- ","-0- ","-0- ","-0- ",'
    '"-0- ","-0- ","-0- "\r\n'
    '7001,"RAHIMI, Karim","individual","SDGT] [IRGC","Director",-0- ,-0- ,-0- ,-0- ,-0- ,'
    '-0- ,"DOB 12 Mar 1971; POB Mashhad, Iran; Gender Male."\r\n'
    '7002,"SEA BREEZE","vessel","IRAN; SDGT",-0- ,"9HZX7","Crude Oil Tanker","156,000",'
    '"81,500","Panama",-0- ,"IMO 9000001."\r\n'
    '7003,"GLOBAL TRADING CO","-0-","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    '7004,"ACME SUPERPOWERS",-0- ,"CYBER2",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    "\x1a"
)
ALT = (
    '7001,501,"aka","كريم رحيمي",-0- \r\n'
    '7003,502,"fka","ГЛОБАЛ ТРЕЙДИНГ",-0- \r\n'
    '7003,503,"aka","GLOBAL TRADING COMPANY LIMITED","Low quality a.k.a."\r\n'
)


def sanctions() -> SanctionsList:
    return SanctionsList(parse_sdn(SDN, aliases=ALT))


def best(name: str, *, within: SanctionsList | None = None) -> tuple[str, str, float]:
    matches = (within or sanctions()).screen(name)
    assert matches, f"{name!r} matched nothing"
    return matches[0].party.name, matches[0].matched_name, matches[0].score


def test_parsing_reads_missing_values_and_quoted_commas_as_published() -> None:
    parties = {p.entry_id: p for p in parse_sdn(SDN)}
    assert parties[36] == SanctionedParty(36, "AEROCARIBBEAN AIRLINES", "entity", ("CUBA",))
    assert parties[173].name == "ANGLO-CARIBBEAN CO., LTD."
    assert parties[173].kind == "entity"
    assert (parties[7001].name, parties[7001].kind) == ("RAHIMI, Karim", "individual")
    assert parties[7002].kind == "vessel"
    assert len(parties) == 6


def test_programs_are_split_on_brackets_and_semicolons() -> None:
    parties = {p.entry_id: p for p in parse_sdn(SDN)}
    assert parties[7001].programs == ("SDGT", "IRGC")
    assert parties[7002].programs == ("IRAN", "SDGT")


def test_aliases_are_attached_to_their_entry_in_file_order() -> None:
    parties = {p.entry_id: p for p in parse_sdn(SDN, aliases=ALT)}
    assert parties[7003].aliases == ("ГЛОБАЛ ТРЕЙДИНГ", "GLOBAL TRADING COMPANY LIMITED")
    assert parties[36].aliases == ()


@pytest.mark.parametrize(("row", "words"), [
    ('2,"SHORT ROW","-0-","CUBA"', "line 2: expected 12 columns, found 4"),
    ('x2,"BAD ID",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
     "line 2: ent_num 'x2' is not an integer"),
    ('2,"ROBOT","android","CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
     "line 2: unknown SDN_Type 'android'"),
    ('36,"AGAIN",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
     "line 2: entry 36 is listed twice"),
])
def test_a_malformed_row_raises_invalid_input_naming_its_line(row: str, words: str) -> None:
    text = SDN.splitlines()[0] + "\n" + row + "\n"
    with pytest.raises(InvalidInput) as raised:
        parse_sdn(text)
    assert raised.value.message == words
    assert raised.value.field == "sdn"


def test_an_alias_of_an_unknown_entry_raises_naming_its_line() -> None:
    with pytest.raises(InvalidInput, match="line 2: alias of unknown entry 99") as raised:
        parse_sdn(SDN, aliases=ALT.splitlines()[0] + '\n99,9,"aka","NOBODY",-0- \n')
    assert raised.value.field == "aliases"


def test_name_keys_drop_script_case_punctuation_legal_forms_and_word_order() -> None:
    assert name_key("Müller & Co. GmbH") == "muller"
    assert name_key("RAHIMI, Karim") == name_key("Karim Rahimi") == "karim rahimi"
    assert name_key("GOLDEN BRIDGE TRADING, L.L.C.") == name_key("Golden Bridge Trading LLC")
    assert name_key("Limited Company") == "company limited"


def test_name_order_first_last_matches_a_last_comma_first_listing() -> None:
    assert best("Karim Rahimi") == ("RAHIMI, Karim", "RAHIMI, Karim", 100.0)


def test_legal_suffix_differences_still_match() -> None:
    name, _, score = best("Global Trading LLC")
    assert (name, score) == ("GLOBAL TRADING CO", 100.0)


def test_a_transliterated_cyrillic_alias_matches_its_latin_spelling() -> None:
    name, matched, score = best("Global Treyding")
    assert (name, matched) == ("GLOBAL TRADING CO", "ГЛОБАЛ ТРЕЙДИНГ")
    assert score == 100.0


def test_a_name_in_arabic_script_matches_the_listed_arabic_alias() -> None:
    assert best("كريم رحيمي")[:2] == ("RAHIMI, Karim", "كريم رحيمي")


def test_a_dissimilar_name_sharing_a_word_does_not_match() -> None:
    assert sanctions().screen("Acme Supplies") == []
    assert sanctions().screen("Aerocaribbean Holidays") == []


def test_each_party_is_reported_once_at_its_best_score() -> None:
    matches = sanctions().screen("Global Trading Company", limit=5)
    assert [(m.party.entry_id, m.score) for m in matches] == [(7003, 100.0)]


def test_a_lower_threshold_reports_more_parties_best_first_up_to_the_limit() -> None:
    matches = sanctions().screen("Acme Supplies", threshold=50.0, limit=1)
    assert [m.party.name for m in matches] == ["ACME SUPERPOWERS"]
    assert 50.0 <= matches[0].score < 88.0


def test_a_near_exact_match_rejects_a_close_one_escalates_and_a_longer_one_passes() -> None:
    exact = sanctions().screen("Sea Breeze")[0]
    close = sanctions().screen("Sea Breezy")[0]
    assert (exact.score, exact.as_finding().severity) == (100.0, "reject")
    assert "'SEA BREEZE' (SDN entry 7002, programs IRAN, SDGT)" in exact.as_finding().detail
    assert 88.0 <= close.score < 95.0
    assert close.as_finding().severity == "escalate"
    assert sanctions().screen("Sea Breezes Shipping") == []


def test_first_and_last_name_alone_match_an_individual_but_only_escalate() -> None:
    parties = parse_sdn('9,"SOKOLOV, Dmitri Arkadyevich","individual","CYBER2",-0- ,-0- ,'
                        '-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')
    match = SanctionsList(parties).screen("Dmitri Sokolov")[0]
    assert (match.matched_name, match.score) == ("SOKOLOV, Dmitri Arkadyevich", 94.0)
    assert match.as_finding().severity == "escalate"


def test_screen_finding_passes_when_nothing_matches() -> None:
    finding = screen_finding(sanctions(), "Acme Office Supplies")
    assert finding.as_dict() == {"check": "sanctions_screening", "passed": True,
                                 "severity": "info",
                                 "detail": "no listed name scores 88 or more"}


def test_screen_finding_names_the_listed_party_and_its_score() -> None:
    finding = screen_finding(sanctions(), "Rahimi Karim")
    assert finding.severity == "reject"
    assert finding.detail == ("name resembles the sanctioned individual 'RAHIMI, Karim' "
                              "(SDN entry 7001, programs SDGT, IRGC) through its listed "
                              "name, score 100 of 100")


def test_a_name_without_letters_or_digits_cannot_be_screened() -> None:
    with pytest.raises(InvalidInput, match="needs letters or digits"):
        sanctions().screen(" ,.- ")
    assert screen_finding(sanctions(), "...").severity == "escalate"


def test_the_shipped_sample_list_holds_every_kind_of_party() -> None:
    sample = load_sample()
    assert len(sample) == 26
    assert {p.kind for p in sample.parties} == {"individual", "entity", "vessel", "aircraft"}
    assert all(p.entry_id >= 90000 for p in sample.parties)


@pytest.mark.parametrize(("name", "listed"), [
    ("Severnyy Most", "SEVERNY MOST TRADING LLC"),
    ("Мухаммад Зарипов", "ZARIPOV, Muhammad Ilkhomovich"),
    ("Kronfeld Müller Anlagenbau GmbH", "KRONFELD MUELLER ANLAGENBAU GMBH"),
    ("Golden Bridge General Trading LLC", "GOLDEN BRIDGE GENERAL TRADING, L.L.C."),
    ("Volkov Holdings Limited", "VOLKOV HOLDINGS LTD"),
])
def test_the_sample_list_finds_its_parties_across_scripts_and_spellings(name: str,
                                                                        listed: str) -> None:
    assert best(name, within=load_sample())[0] == listed


def test_screening_finds_a_listed_name_among_thousands() -> None:
    parties = [SanctionedParty(i, f"TRADER NUMBER {i:05d} EXPORTS", "entity", ("SDGT",))
               for i in range(3000)]
    parties.append(SanctionedParty(5000, "VOLKOV HOLDINGS LTD", "entity", ("RUSSIA-EO14024",)))
    large = SanctionsList(parties)
    assert [m.party.entry_id for m in large.screen("Volkov Holdings")] == [5000]
    assert len(large.screen("Trader Number 01234 Exports")) == 3
