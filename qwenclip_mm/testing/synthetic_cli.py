"""The command line shared by the tools that write a synthetic data set.

``tools/misc/make_synthetic_irma.py`` and
``tools/misc/make_synthetic_rocov2.py`` take the same arguments (an output
folder, images per split, image size, seed), call their generator and print
what each split holds; this module is that part, with the data set
specifics passed in.
"""
import argparse
from typing import Callable, Dict, Optional, Sequence


def run_synthetic_data_tool(
        make: Callable[..., dict],
        description: str,
        num_defaults: Dict[str, int],
        describe_split: Callable[[dict, str], str],
        notes: Optional[Callable[[dict], str]] = None,
        argv: Optional[Sequence[str]] = None) -> dict:
    """Parse the command line, write the data set and print a summary.

    The command line is ``OUT_DIR [--num-SPLIT N ...] [--img-size PX]
    [--seed S]``, with a ``--num-SPLIT`` option per entry of
    ``num_defaults``; ``make(OUT_DIR, num_SPLIT=N, ..., img_size=PX,
    seed=S)`` writes the data. Then it prints ``data_root: ROOT (PX px
    images, seed S[, NOTES])``, a line per split of ``info['splits']`` and
    the files written.

    Args:
        make (Callable[..., dict]): The generator, e.g.
            :func:`make_synthetic_rocov2`; it returns a dict with
            ``data_root``, ``splits`` (keyed by split name) and ``files``.
        description (str): The tool's description for ``--help``.
        num_defaults (dict[str, int]): The default number of images of each
            split, in the order the options are listed.
        describe_split (Callable[[dict, str], str]): The summary line of a
            split, given ``make``'s result and the split name (e.g. from the
            data set read back).
        notes (Callable[[dict], str], optional): More of the ``data_root``
            line's parenthesis, given ``make``'s result. Defaults to None.
        argv (Sequence[str], optional): The arguments. Defaults to None,
            i.e. ``sys.argv[1:]``.

    Returns:
        dict: What ``make`` returned.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('out_dir', help='folder to write')
    for split, default in num_defaults.items():
        parser.add_argument(f'--num-{split}', type=int, default=default)
    parser.add_argument(
        '--img-size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    nums = {f'num_{split}': getattr(args, f'num_{split}')
            for split in num_defaults}
    info = make(
        args.out_dir, **nums, img_size=args.img_size, seed=args.seed)
    extra = f', {notes(info)}' if notes is not None else ''
    print(f'data_root: {info["data_root"]} ({args.img_size} px images, '
          f'seed {args.seed}{extra})')
    for split in info['splits']:
        print(describe_split(info, split))
    print('files: ' + ', '.join(info['files']))
    return info
