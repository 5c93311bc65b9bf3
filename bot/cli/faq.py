"""`klub faq …`: check the tutorial base, ask it questions, measure it on a set of cases."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.cli.argfr import bounded_int
from bot.cli.common import CliError
from bot.faq.evaluate import CasesError, load_cases, run_cases, score
from bot.faq.loader import Base, inspect_base
from bot.faq.matcher import DEFAULT_THRESHOLD, Matcher, MatchResult

DEFAULT_BASE = "faq"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("faq", help="la base de tutoriels")
    commands = parser.add_subparsers(dest="faq_command", metavar="SOUS-COMMANDE")
    commands.required = True

    check = commands.add_parser("check", help="vérifier les fichiers de la base")
    check.add_argument("dirs", nargs="*", metavar="DOSSIER", help=f"dossiers, dans l'ordre (défaut : {DEFAULT_BASE}/)")
    check.set_defaults(func=cmd_check)

    ask = commands.add_parser("ask", help="poser une question à la base et voir pourquoi elle répond ainsi")
    _base_option(ask)
    ask.add_argument("question", nargs="?", help="la question, entre guillemets")
    ask.add_argument("--batch", metavar="FICHIER", help="une question par ligne (« - » : entrée standard)")
    ask.add_argument("--json", action="store_true", help="une ligne JSON par question")
    _threshold_option(ask)
    ask.set_defaults(func=cmd_ask)

    evaluate = commands.add_parser("eval", help="mesurer la base sur un jeu de cas (cases.yml)")
    _base_option(evaluate)
    evaluate.add_argument("--cases", required=True, metavar="FICHIER", help="cases: [{q: …, expect: id ou null}]")
    _threshold_option(evaluate)
    evaluate.add_argument("--errors", action="store_true", help="lister les cas manqués")
    evaluate.set_defaults(func=cmd_eval)

    draft = commands.add_parser("draft", help="préparer un tutoriel à partir d'une question du journal")
    draft.add_argument("--from-question", type=bounded_int(1), required=True, metavar="N", help="numéro de la question")
    draft.add_argument("--dir", help="dossier des brouillons (défaut : drafts/ dans le premier dossier de la base)")
    draft.set_defaults(func=cmd_draft)


def _base_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        action="append",
        metavar="DOSSIER",
        help=f"dossier de tutoriels, répétable : le dernier l'emporte (défaut : {DEFAULT_BASE}/)",
    )


def _threshold_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold", type=float, default=None, metavar="X", help=f"seuil de réponse (défaut : {DEFAULT_THRESHOLD})"
    )


def _fr(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def _threshold(args: argparse.Namespace) -> float:
    value: float | None = args.threshold
    if value is None:
        return DEFAULT_THRESHOLD
    if not 0.0 <= value <= 1.0:
        raise CliError(f"seuil {value} invalide : il doit être entre 0 et 1")
    return value


def _load(dirs: Sequence[str] | None) -> Base:
    folders = list(dirs or [DEFAULT_BASE])
    for folder in folders:
        if not Path(folder).exists():
            raise CliError(f"{folder} : dossier de tutoriels introuvable")
    report = inspect_base(folders)
    if report.base is None:
        count = len(report.errors)
        more = f" (et {count - 1} autre{'s' if count > 2 else ''})" if count > 1 else ""
        raise CliError(f"base de tutoriels invalide : {report.errors[0]}{more} ; détail : klub faq check")
    return report.base


# -- check --------------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    folders = list(args.dirs or [DEFAULT_BASE])
    for folder in folders:
        if not Path(folder).exists():
            raise CliError(f"{folder} : dossier de tutoriels introuvable")
    report = inspect_base(folders)
    for warning in report.warnings:
        print(f"attention : {warning}")
    if report.base is None:
        for problem in report.errors:
            print(problem)
        count = len(report.errors)
        print(f"{count} problème{'s' if count > 1 else ''} à corriger")
        return 1
    base = report.base
    themes = len(base.themes)
    print(f"OK : {len(base.entries)} tutoriels, {themes} thème{'s' if themes > 1 else ''}")
    return 0


# -- ask ----------------------------------------------------------------------------------------------


def _as_json(result: MatchResult) -> dict[str, Any]:
    best = result.best
    return {
        "question": result.query,
        "match": best.entry.id if best is not None and result.answered else None,
        "score": best.score if best is not None else 0.0,
        "candidates": [[c.entry.id, c.score] for c in result.candidates],
    }


def _open_batch(name: str) -> TextIO:
    if name == "-":
        return sys.stdin
    try:
        return open(name, encoding="utf-8")  # closed by the caller
    except FileNotFoundError:
        raise CliError(f"{name} : fichier de questions introuvable") from None
    except OSError as exc:
        raise CliError(f"{name} : lecture impossible ({exc.strerror or exc})") from None


def cmd_ask(args: argparse.Namespace) -> int:
    if args.batch is None and not args.question:
        raise CliError("indiquez une question entre guillemets, ou --batch FICHIER")
    if args.batch is not None and args.question:
        raise CliError("soit une question, soit --batch FICHIER, pas les deux")
    threshold = _threshold(args)
    matcher = Matcher(_load(args.base), threshold=threshold)  # the index is built once for the whole batch
    if args.batch is None:
        result = matcher.match(args.question)
        if args.json:
            print(json.dumps(_as_json(result), ensure_ascii=False))
        else:
            _explain(matcher, result)
        return 0
    stream = _open_batch(args.batch)
    try:
        for line in stream:
            result = matcher.match(line.rstrip("\r\n"))
            if args.json:
                print(json.dumps(_as_json(result), ensure_ascii=False))
            else:
                best = result.best
                shown = best.entry.id if best is not None and result.answered else "—"
                print(f"{shown}\t{_fr(best.score if best else 0.0)}\t{result.query}")
    except UnicodeDecodeError:
        raise CliError(f"{args.batch} : le fichier n'est pas en UTF-8") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 0


def _explain(matcher: Matcher, result: MatchResult) -> None:
    """What an ANT needs to understand the choice: decision, candidates, how words were read."""
    print(f"Question : {result.query}")
    best = result.best
    limit = _fr(result.threshold)
    if result.english:
        print("Langue : anglais (le tutoriel, en français, sera précédé d'une ligne en anglais)")
    if result.focus and result.focus != result.query.strip():
        print(f"Phrases retenues : {result.focus}")
    if result.kind != "question":
        kinds = {"greeting": "une salutation", "thanks": "un remerciement", "chatter": "une banalité"}
        print(f"Décision : pas une question ({kinds.get(result.kind, result.kind)}) : réponse aimable, sans tutoriel")
        return
    if best is None:
        print(f"Décision : abstention, aucun tutoriel ne partage de mot utile avec la question (seuil {limit})")
    elif result.suggestions:
        names = ", ".join(c.entry.id for c in result.suggestions)
        state = "au-dessus" if result.answered else "un peu en dessous"
        print(f"Décision : « Vouliez-vous dire… ? » avec {names} (scores proches, {state} du seuil {limit})")
    elif result.answered:
        print(f"Décision : réponse avec {best.entry.id} (score {_fr(best.score)} ≥ seuil {limit})")
    else:
        print(f"Décision : abstention, la question part à l'ANT (meilleur score {_fr(best.score)} < seuil {limit})")
    if best is not None:
        print(f"Meilleur tutoriel : {best.entry.id} ({_fr(best.score)}) — {best.entry.question}")
        print(f"  fichier : {best.entry.source}")
    if len(result.candidates) > 1:
        print("Suivants :")
        for rank, cand in enumerate(result.candidates[1:], start=2):
            print(f"  {rank}. {cand.entry.id} ({_fr(cand.score)}) — {cand.entry.question}")
    words = matcher.explain(result.query)
    if words:
        print("Mots pris en compte : " + " ; ".join(f"{w} ({note})" for w, note in words))
    else:
        print("Mots pris en compte : aucun (salutation, politesse ou emoji seulement)")


# -- eval ---------------------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    threshold = _threshold(args)
    try:
        cases = load_cases(args.cases)
    except CasesError as exc:
        raise CliError(str(exc)) from None
    base = _load(args.base)
    matcher = Matcher(base, threshold=threshold)
    unknown = sorted({c.expect for c in cases if c.expect is not None and base.get(c.expect) is None})
    for entry_id in unknown:
        print(f"attention : les cas attendent « {entry_id} », absent de la base", file=sys.stderr)

    def best_of(question: str) -> tuple[str | None, float]:
        best = matcher.match(question).best
        return (best.entry.id, best.score) if best is not None else (None, 0.0)

    outcomes = run_cases(cases, best_of)
    result = score(outcomes, threshold)
    print(
        f"Base : {len(base.entries)} tutoriels ; {result.total} cas ({result.in_scope} dans la base, "
        f"{result.out_of_scope} hors base) ; seuil {_fr(threshold)}"
    )
    print(f"Top-1 dans la base : {_fr(result.top1_rate, 3)} ({result.in_scope_top1}/{result.in_scope})")
    print(f"Rejet hors base : {_fr(result.rejection_rate, 3)} ({result.rejected}/{result.out_of_scope})")
    print(f"Exactitude globale : {_fr(result.accuracy, 3)} ({result.correct}/{result.total})")
    if args.errors:
        for outcome in outcomes:
            if outcome.correct(threshold):
                continue
            expected = outcome.case.expect or "abstention"
            got = outcome.best if outcome.best is not None and outcome.score >= threshold else "abstention"
            detail = f"{outcome.best} {_fr(outcome.score)}"
            print(f"  manqué : attendu {expected}, obtenu {got} ({detail}) : {outcome.case.question}")
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    from bot import drafts
    from bot.bootstrap import bootstrap
    from bot.cli.common import load
    from bot.clock import SystemClock

    config = load(args)
    folder = Path(args.dir) if args.dir else Path(config.faq.bases[0]) / "drafts"
    app = bootstrap(config, clock=SystemClock(), platforms=())
    try:
        with app.sessions() as db:
            try:
                path = drafts.draft(db, app.faq, args.from_question, folder, app.clock.now())
            except LookupError as exc:
                raise CliError(str(exc)) from exc
    finally:
        app.close()
    print(f"Brouillon écrit : {path}")
    print("Complétez la réponse, le lien et les étiquettes, déplacez l'entrée dans son thème, puis : klub faq check")
    return 0
