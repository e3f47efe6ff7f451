"""`deepzoo enroll` and `deepzoo identify`: add a person to a trained embedding run's gallery
without retraining, and recognise faces against it (`pipelines.gallery`)."""

from deepzoo.cli_options import Float, Text, add_option

IDENTITY = Text("an identity name", forbidden="/\\")


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    p = subparsers.add_parser("enroll", help="enroll a new identity in a metric-learning run's gallery (no retraining)")
    add_option(p, "--identity", IDENTITY, required=True, help="the person's name")
    p.add_argument("run", help="run directory of a metric-learning model (from deepzoo train)")
    p.add_argument("images", nargs="+", help="image files of the person")
    p.set_defaults(handler=_enroll)

    p = subparsers.add_parser("identify", help="recognise faces against a run's enrolled gallery (1:K with rejection)")
    add_option(p, "--threshold", Float(0.0, open_low=True), help="accept a match up to this squared distance (default: the run's τ from its validation ROC)")
    p.add_argument("run", help="run directory with enrolled identities")
    p.add_argument("images", nargs="+", help="image files to recognise")
    p.set_defaults(handler=_identify)


def _enroll(args):
    from deepzoo.cli import _tensorflow, check_run_dir

    check_run_dir(args.run)
    _tensorflow()
    from pipelines.gallery import enroll

    result = enroll(args.run, args.identity, args.images)
    print(f"enrolled {result['identity']!r}: {result['images']} image(s); gallery: {len(result['gallery_identities'])} identities, {result['gallery_size']} embeddings ({result['path']})")
    return 0


def _identify(args):
    from deepzoo.cli import _tensorflow, check_run_dir

    check_run_dir(args.run)
    _tensorflow()
    from pipelines.gallery import identify

    for path, match in zip(args.images, identify(args.run, args.images, threshold=args.threshold)):
        verdict = match["identity"] if match["identity"] is not None else "rejected (unknown)"
        print(f"{path}: {verdict}  d²={match['distance']:.4f}  τ={match['threshold']:.4f}")
    return 0
