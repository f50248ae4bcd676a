#!/usr/bin/env python
"""Real pictures for the quality benches, gathered offline and reproducibly.

    python bench/photos.py            # fetch (once) and list what there is
    python bench/photos.py --sheet    # also write contact sheets, one per category

Sources, all on a machine whose only network is the package registries:

* Debian packages of wallpapers and backgrounds, and OpenCV's sample data, fetched with
  ``apt-get download`` and unpacked with ``dpkg-deb -x`` under ``bench/out/photos/debs``
  (a folder given with ``--debs`` that already holds the ``.deb`` files is used instead);
* scikit-learn's two sample images and scikit-image's data images (pip packages of the
  bench requirements, ``requirements/dev.txt``).

One picture per wallpaper (a wallpaper shipped at several resolutions, or in a light
and a dark variant, counts once; the largest landscape file is taken), identical files
once (by sha256); MATE's recoloured copies of one wallpaper (Stripes-Light, the
Ubuntu-Mate colour variants) are left unlabelled, so only one of each is taken. Of OpenCV's and scikit-image's data only the photographs are taken,
one of each stereo pair or calibration series (no charts, logos or test patterns).
Every picture is labelled here by hand, from its contact sheet: ``photo`` or ``art``
(illustrations, renders, abstract wallpapers), and a category for the look-alike
bench. Each is stored RGB, longer side at most ``MAX_SIDE``, JPEG quality 95, in
``bench/out/photos/images/`` with ``manifest.json`` beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "photos"
MAX_SIDE = 1600
# Bump when the selection or the labels change, so a stale folder is remade.
VERSION = 1

PACKAGES = (
    "gnome-backgrounds",
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "sway-backgrounds",
    "ukui-wallpapers",
    "lomiri-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "opencv-doc",
)

# name -> (kind, category). Categories: landscape (mountains, lakes, sea, sky, forest),
# plants (flowers, leaves, grass), city (buildings, streets, aerial towns), animals,
# food (fruit, drinks, dishes), objects (things on a table, indoors), people,
# text (pages, signs, printed matter), texture (surfaces filling the frame), space,
# abstract (abstract art and graphic wallpapers), illustration (drawn scenes).
LABELS: dict[str, tuple[str, str]] = {
    # OpenCV samples (photographs only; one of each stereo pair / series)
    "opencv-aero1": ("photo", "city"),
    "opencv-aloeL": ("photo", "plants"),
    "opencv-apple": ("photo", "food"),
    "opencv-baboon": ("photo", "animals"),
    "opencv-basketball1": ("photo", "people"),
    "opencv-blox": ("photo", "objects"),
    "opencv-board": ("photo", "texture"),
    "opencv-box": ("photo", "text"),
    "opencv-box_in_scene": ("photo", "objects"),
    "opencv-building": ("photo", "city"),
    "opencv-butterfly": ("photo", "animals"),
    "opencv-chicky_512": ("photo", "animals"),
    "opencv-ela_original": ("photo", "objects"),
    "opencv-fruits": ("photo", "food"),
    "opencv-graf1": ("photo", "abstract"),
    "opencv-home": ("photo", "city"),
    "opencv-left": ("photo", "objects"),
    "opencv-left01": ("photo", "people"),
    "opencv-leuvenA": ("photo", "city"),
    "opencv-licenseplate_motion": ("photo", "city"),
    "opencv-messi5": ("photo", "people"),
    "opencv-orange": ("photo", "food"),
    "opencv-pca_test1": ("photo", "objects"),
    "opencv-rubberwhale1": ("photo", "objects"),
    "opencv-smarties": ("photo", "food"),
    "opencv-squirrel_cls": ("photo", "animals"),
    "opencv-starry_night": ("art", "illustration"),
    "opencv-stuff": ("photo", "objects"),
    "opencv-sudoku": ("photo", "text"),
    "opencv-text_defocus": ("photo", "text"),
    "opencv-Blender_Suzanne1": ("art", "abstract"),
    # scikit-image and scikit-learn
    "skimage-astronaut": ("photo", "people"),
    "skimage-brick": ("photo", "texture"),
    "skimage-camera": ("photo", "people"),
    "skimage-chelsea": ("photo", "animals"),
    "skimage-coffee": ("photo", "food"),
    "skimage-coins": ("photo", "objects"),
    "skimage-grass": ("photo", "texture"),
    "skimage-gravel": ("photo", "texture"),
    "skimage-hubble_deep_field": ("photo", "space"),
    "skimage-ihc": ("photo", "texture"),
    "skimage-moon": ("photo", "space"),
    "skimage-motorcycle_left": ("photo", "objects"),
    "skimage-page": ("photo", "text"),
    "skimage-retina": ("photo", "space"),
    "skimage-rocket": ("photo", "city"),
    "skimage-text": ("photo", "text"),
    "sklearn-china": ("photo", "city"),
    "sklearn-flower": ("photo", "plants"),
}
# Wallpaper packages: labelled by file stem (filled in below, per package).
WALLPAPER_LABELS: dict[str, tuple[str, str]] = {
    # gnome-backgrounds (light variants; the SVGs are not decodable without a renderer)
    "gnome-adwaita": ("art", "abstract"),
    "gnome-grid": ("art", "texture"),
    "gnome-licorice": ("art", "abstract"),
    "gnome-pixels": ("art", "illustration"),
    "gnome-symbolic": ("art", "abstract"),
    "gnome-truchet": ("art", "texture"),
    "gnome-vnc": ("art", "abstract"),
    "gnome-wood": ("art", "texture"),
    # lomiri
    "lomiri-Bridge_by_Sander_Klootwijk": ("photo", "landscape"),
    "lomiri-Dragonfly_by_Bolly": ("photo", "plants"),
    "lomiri-Picture_0B_by_freespace": ("photo", "food"),
    "lomiri-Picture_1A_by_freespace": ("photo", "objects"),
    "lomiri-Wine_by_Jakkub_Mede": ("photo", "objects"),
    "lomiri-aitzgorri_by_Aitzol_Berasategi": ("photo", "landscape"),
    "lomiri-analogpattern_by_Peter_Nerlich": ("photo", "abstract"),
    "lomiri-free_by_Peter_Nerlich": ("photo", "animals"),
    "lomiri-friends_by_Aitzol_Berasategi": ("photo", "animals"),
    "lomiri-greentock_by_Peter_Nerlich": ("photo", "objects"),
    "lomiri-life_by_Aitzol_Berasategi": ("photo", "landscape"),
    "lomiri-picosdeeuropa_by_Aitzol_Berasategi": ("photo", "landscape"),
    "lomiri-seeding_by_Clements_Engelhardt": ("photo", "plants"),
    "lomiri-sunset_by_Aitzol_Berasategi": ("photo", "landscape"),
    "lomiri-umang_by_Abhishek_Mudgal": ("art", "abstract"),
    "lomiri-Fossa_by_Jasper_Roks": ("art", "abstract"),
    "lomiri-Infinite-Sea_by_Aury88": ("art", "space"),
    "lomiri-Kleiber_by_Lukas_Baubkus": ("photo", "plants"),
    "lomiri-Painting-Colors_by__herobrine7gamer": ("art", "abstract"),
    "lomiri-warty-final-ubuntu": ("art", "abstract"),
    # mate
    "mate-Arc-Colors-Transparent-Wallpaper": ("art", "abstract"),
    "mate-Elephants": ("art", "illustration"),
    "mate-Flow": ("art", "abstract"),
    "mate-Gulp": ("art", "abstract"),
    "mate-Silk": ("art", "abstract"),
    "mate-Spring": ("art", "abstract"),
    "mate-Waves": ("art", "abstract"),
    "mate-Float-into-MATE": ("art", "abstract"),
    "mate-GreenTraditional": ("art", "abstract"),
    "mate-MATE-Stripes-Dark": ("art", "abstract"),
    "mate-Stripes": ("art", "abstract"),
    "mate-Ubuntu-Mate-Cold-no-logo": ("art", "abstract"),
    "mate-Aqua": ("photo", "plants"),
    "mate-Blinds": ("photo", "plants"),
    "mate-Dune": ("photo", "plants"),
    "mate-FreshFlower": ("photo", "plants"),
    "mate-Garden": ("photo", "plants"),
    "mate-GreenMeadow": ("photo", "plants"),
    "mate-LadyBird": ("photo", "plants"),
    "mate-RainDrops": ("photo", "plants"),
    "mate-Storm": ("photo", "landscape"),
    "mate-TwoWings": ("photo", "plants"),
    "mate-Wood": ("photo", "texture"),
    "mate-YellowFlower": ("photo", "plants"),
    # plasma
    "plasma-Altai": ("art", "illustration"),
    "plasma-Autumn": ("art", "illustration"),
    "plasma-BytheWater": ("photo", "landscape"),
    "plasma-Canopee": ("art", "abstract"),
    "plasma-Cascade": ("art", "abstract"),
    "plasma-Cluster": ("art", "abstract"),
    "plasma-ColdRipple": ("photo", "landscape"),
    "plasma-ColorfulCups": ("photo", "objects"),
    "plasma-DarkestHour": ("photo", "landscape"),
    "plasma-Elarun": ("art", "abstract"),
    "plasma-EveningGlow": ("photo", "landscape"),
    "plasma-FallenLeaf": ("photo", "plants"),
    "plasma-Flow": ("art", "abstract"),
    "plasma-FlyingKonqui": ("art", "illustration"),
    "plasma-Grey": ("photo", "city"),
    "plasma-Honeywave": ("art", "abstract"),
    "plasma-IceCold": ("art", "abstract"),
    "plasma-Kay": ("art", "abstract"),
    "plasma-Kite": ("photo", "landscape"),
    "plasma-Kokkini": ("art", "abstract"),
    "plasma-MilkyWay": ("art", "abstract"),
    "plasma-OneStandsOut": ("photo", "plants"),
    "plasma-Opal": ("art", "abstract"),
    "plasma-PastelHills": ("art", "abstract"),
    "plasma-Patak": ("art", "abstract"),
    "plasma-Path": ("photo", "landscape"),
    "plasma-SafeLanding": ("art", "illustration"),
    "plasma-Shell": ("art", "abstract"),
    "plasma-Volna": ("photo", "landscape"),
    "plasma-summer_1am": ("photo", "landscape"),
    # sway: one wallpaper in eight sizes
    "sway-Sway_Wallpaper_Blue": ("art", "abstract"),
    # ukui
    "ukui-2004default": ("art", "abstract"),
    "ukui-calla": ("art", "illustration"),
    "ukui-city": ("art", "abstract"),
    "ukui-desert": ("art", "abstract"),
    "ukui-firstgeneration": ("art", "illustration"),
    "ukui-fluent-color": ("art", "abstract"),
    "ukui-focal-ubuntukylin": ("art", "abstract"),
    "ukui-goldfish": ("art", "illustration"),
    "ukui-rhythm": ("art", "abstract"),
    "ukui-rollpaper": ("art", "abstract"),
    "ukui-string": ("art", "abstract"),
    "ukui-the-mouse": ("art", "illustration"),
}
LABELS.update(WALLPAPER_LABELS)

OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
SKIMAGE_FILES = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass
class Photo:
    name: str
    file: str  # under bench/out/photos/images/
    source: str  # package and path it came from
    sha256: str  # of the source file
    width: int
    height: int
    kind: str  # photo | art
    category: str


# --- fetching ----------------------------------------------------------------------------------


def fetch_debs(debs: Path) -> Path:
    """Download (apt-get download) and unpack (dpkg-deb -x) every package, once."""
    unpacked = debs / "x"
    debs.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        target = unpacked / package
        if target.is_dir():
            continue
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
            found = sorted(debs.glob(f"{package}_*.deb"))
        tmp = unpacked / f".{package}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp)], check=True)
        tmp.rename(target)
    return unpacked


def _largest(paths: list[Path]) -> Path:
    """The landscape file with most pixels (from the WxH in its name, else its size)."""

    def key(path: Path) -> tuple[int, int]:
        match = re.search(r"(\d+)x(\d+)", path.name)
        w, h = (int(match.group(1)), int(match.group(2))) if match else Image.open(path).size
        return (int(w >= h), w * h)

    return max(paths, key=key)


def candidates(unpacked: Path) -> dict[str, Path]:
    """name -> source file: one per wallpaper, the listed OpenCV and scikit data files."""
    found: dict[str, Path] = {}
    gnome = unpacked / "gnome-backgrounds/usr/share/backgrounds/gnome"
    for path in sorted(gnome.glob("*-l.webp")):
        found["gnome-" + path.stem[:-2]] = path
    for package in ("lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"):
        for path in sorted((unpacked / package / "usr/share/backgrounds").glob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.is_symlink():
                found.setdefault("lomiri-" + path.stem, path)
    mate: dict[str, list[Path]] = {}
    for path in sorted((unpacked / "mate-backgrounds/usr/share/backgrounds/mate").glob("*/*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            mate.setdefault(re.sub(r"_\d+x\d+$", "", path.stem), []).append(path)
    for stem, paths in mate.items():
        found["mate-" + stem] = _largest(paths)
    for folder in sorted((unpacked / "plasma-workspace-wallpapers/usr/share/wallpapers").glob("*")):
        images = [p for p in (folder / "contents/images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        if images:
            found["plasma-" + folder.name] = _largest(images)
    sway = [p for p in (unpacked / "sway-backgrounds/usr/share/backgrounds/sway").glob("*.png") if "Portrait" not in p.name]
    if sway:
        found["sway-Sway_Wallpaper_Blue"] = _largest(sway)
    for path in sorted((unpacked / "ukui-wallpapers/usr/share/backgrounds").glob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            found["ukui-" + path.stem] = path
    for name in LABELS:
        if name.startswith("opencv-"):
            stem = name[len("opencv-") :]
            for suffix in (".jpg", ".png"):
                path = unpacked / "opencv-doc" / OPENCV_DATA / f"{stem}{suffix}"
                if path.is_file():
                    found[name] = path
    import skimage
    import sklearn.datasets

    skimage_data = Path(skimage.__file__).parent / "data"
    for file_name in SKIMAGE_FILES:
        found["skimage-" + Path(file_name).stem] = skimage_data / file_name
    sklearn_images = Path(sklearn.datasets.__file__).parent / "images"
    for stem in ("china", "flower"):
        found["sklearn-" + stem] = sklearn_images / f"{stem}.jpg"
    return found


def to_rgb_flat(img: Image.Image) -> Image.Image:
    """RGB; transparent parts over dark grey (transparent wallpapers sit on a desktop colour)."""
    if img.mode in ("RGBA", "LA", "P") and ("transparency" in img.info or img.mode != "P"):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (40, 40, 44, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return img.convert("RGB")


def build(out: Path = OUT, debs: Path | None = None) -> list[Photo]:
    """Fetch, select, normalise; returns the manifest (also written as manifest.json)."""
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        data = json.loads(manifest_path.read_text())
        if data.get("version") == VERSION:
            return [Photo(**p) for p in data["photos"]]
    unpacked = fetch_debs(debs or out / "debs")
    images = out / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    photos: list[Photo] = []
    seen: set[str] = set()
    found = candidates(unpacked)
    unlabelled = sorted(set(found) - set(LABELS))
    if unlabelled:
        print(f"not labelled, left out: {', '.join(unlabelled)}", file=sys.stderr)
    for name in sorted(found):
        if name not in LABELS:
            continue
        path = found[name]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        with Image.open(path) as img:
            img.load()
            rgb = to_rgb_flat(img)
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        file_name = f"{name}.jpg"
        rgb.save(images / file_name, "JPEG", quality=95)
        kind, category = LABELS[name]
        source = str(path.relative_to(unpacked)) if path.is_relative_to(unpacked) else f"pip:{path.parent.parent.name}/{path.parent.name}/{path.name}"
        photos.append(Photo(name, file_name, source, digest, rgb.width, rgb.height, kind, category))
    missing = sorted(set(LABELS) - {p.name for p in photos})
    if missing:
        print(f"labelled but not found: {', '.join(missing)}", file=sys.stderr)
    manifest_path.write_text(json.dumps({"version": VERSION, "photos": [asdict(p) for p in photos]}, indent=1))
    return photos


def load(out: Path = OUT) -> list[tuple[Photo, Path]]:
    """The manifest and each picture's path (fetching first if needed)."""
    return [(p, out / "images" / p.file) for p in build(out)]


def contact_sheet(items: list[tuple[Photo, Path]], path: Path, cols: int = 6) -> None:
    from PIL import ImageDraw

    tw, th = 220, 150
    rows = max(1, -(-len(items) // cols))
    sheet = Image.new("RGB", (cols * tw, rows * (th + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (photo, file) in enumerate(items):
        with Image.open(file) as img:
            img.draft("RGB", (tw * 2, th * 2))
            thumb = img.convert("RGB")
        thumb.thumbnail((tw - 4, th - 4))
        x, y = (i % cols) * tw, (i // cols) * (th + 14)
        sheet.paste(thumb, (x + 2, y + 2))
        draw.text((x + 2, y + th), f"{photo.name[:32]} ({photo.kind})", fill="black")
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--debs", type=Path, default=None, help="a folder that already holds the .deb files (default: OUT/debs)")
    parser.add_argument("--sheet", action="store_true", help="write a contact sheet per category")
    args = parser.parse_args()
    photos = build(args.out, args.debs)
    by_category: dict[str, list[Photo]] = {}
    for photo in photos:
        by_category.setdefault(photo.category, []).append(photo)
    print(f"{len(photos)} pictures ({sum(p.kind == 'photo' for p in photos)} photographs) in {args.out / 'images'}")
    for category, members in sorted(by_category.items()):
        print(f"  {category:13s} {len(members):3d}  ({sum(p.kind == 'photo' for p in members)} photographs)")
        if args.sheet:
            contact_sheet([(p, args.out / "images" / p.file) for p in members], args.out / f"sheet-{category}.png")


if __name__ == "__main__":
    main()
