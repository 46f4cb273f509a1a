"""The ``skconvex`` command."""

import argparse
import json
import sys


def _cmd_compare(args):
    from threadpoolctl import threadpool_limits

    from skconvex._compare import HEADER, run_compare
    from skconvex.utils import all_estimators

    # what can fail is checked before the fits: the names, and the JSON file
    unknown = sorted(set(args.estimator or ()) - {name for name, _ in all_estimators()})
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; `skconvex estimators` lists them")
    json_file = None
    if args.json:
        try:
            json_file = open(args.json, "w")
        except OSError as exc:
            raise ValueError(f"cannot write --json {args.json}: {exc.strerror}") from None
    threads = args.blas_threads if args.blas_threads > 0 else None
    print(f"skconvex compare ({'quick' if args.quick else 'full'} sizes, BLAS threads: "
          f"{threads or 'default'}): each estimator and its scikit-learn peer fitted on the "
          "same 75/25 split; score on the held-out 25 %.")
    print(HEADER)
    try:
        with threadpool_limits(limits=threads):
            rows = run_compare(args.estimator, quick=args.quick)
        if json_file is not None:
            json.dump(rows, json_file, indent=2)
            print(f"wrote {len(rows)} rows to {args.json}")
    finally:
        if json_file is not None:
            json_file.close()
    return 0


def _cmd_estimators(args):
    from skconvex.utils import all_estimators

    for name, cls in all_estimators():
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"{name:<28} {summary}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skconvex",
        description="Convex and sketching estimators, side by side with scikit-learn.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compare", help="fit every estimator and its scikit-learn peer on the "
                                       "same data and print one table")
    p.add_argument("--estimator", action="append", metavar="NAME",
                   help="only this estimator (repeatable)")
    p.add_argument("--quick", action="store_true", help="small problem sizes")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument("--blas-threads", type=int, default=1, metavar="N",
                   help="BLAS threads for both sides (default 1: timings comparable and "
                        "stable on small machines; 0 keeps the library default)")
    p.set_defaults(func=_cmd_compare)
    p = sub.add_parser("estimators", help="list the registered estimators")
    p.set_defaults(func=_cmd_estimators)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"skconvex: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
