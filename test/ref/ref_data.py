"""References for test/data: a small ImageFolder written with cv2 (and PIL for a palette PNG),
bad-input folders, torchvision's own sample order, and the evaluation transform computed twice:
with cv2's decoder and cv2.resize (what cltrain must reproduce exactly), and with torchvision's
real PIL pipeline (which cltrain only approximates: PIL's antialiased bilinear vs INTER_AREA).
"""
import shutil

import cv2
import numpy as np

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def smooth_image(rng, h, w, channels=3):
    """A photo-like image: smooth gradients plus blobs plus mild noise, uint8."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, channels))
    for c in range(channels):
        a, b, p = rng.uniform(0.01, 0.05, 3)
        img[..., c] = 128 + 60 * np.sin(a * x + p * 7) * np.cos(b * y) + 30 * np.sin((x + y) * p * 0.2)
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_good(root, rng):
    """Class names sort by bytes ('B_upper' < 'a_lower' < 'c3'); sub-folders 'n', 'n b' and
    'n/x' check sorted(os.walk()) (path-string order, not depth-first)."""
    files = {
        "a_lower/land.jpg": smooth_image(rng, 300, 400),
        "a_lower/port.JPG": smooth_image(rng, 500, 300),
        "a_lower/gray.png": smooth_image(rng, 280, 260, 1)[..., 0],
        "a_lower/with space (1).jpeg": smooth_image(rng, 333, 517),
        "a_lower/n/small.png": smooth_image(rng, 150, 100),
        "a_lower/n b/tiny.bmp": smooth_image(rng, 90, 120),
        "a_lower/n/x/deep.ppm": smooth_image(rng, 257, 300),
        "B_upper/rgba.png": smooth_image(rng, 240, 320, 4),
        "B_upper/exact256.png": smooth_image(rng, 256, 384),
        "B_upper/Z.PNG": smooth_image(rng, 500, 500),
        "c3/wide.webp": smooth_image(rng, 200, 700),
        "c3/g16.png": (smooth_image(rng, 260, 300, 1)[..., 0].astype(np.uint16) * 257 + 3),
        "c3/tall.tif": smooth_image(rng, 900, 230),
    }
    for rel, img in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        params = [cv2.IMWRITE_WEBP_QUALITY, 101] if rel.endswith(".webp") else []
        assert cv2.imwrite(str(p), img, params) or p.suffix.upper() in (".JPG", ".PNG"), rel
        if not p.exists():  # upper-case extensions: encode by the lower-case name, then rename
            tmp = p.with_suffix(p.suffix.lower())
            assert cv2.imwrite(str(tmp), img)
            tmp.rename(p)
    from PIL import Image  # a palette PNG, which cv2 cannot write

    Image.fromarray(smooth_image(rng, 230, 260)[..., ::-1].copy()).convert("P").save(root / "c3/pal.png")
    (root / "a_lower/notes.txt").write_text("not an image\n")
    (root / "a_lower/n/data.csv").write_text("1,2\n")
    (root / "stray.jpg").write_bytes(b"a file beside the class folders is not a class\n")


def write_bad(base, rng):
    ok = cv2.imencode(".jpg", smooth_image(rng, 300, 300))[1].tobytes()

    def one(name, fname, data):
        d = base / name / "cls"
        d.mkdir(parents=True)
        (d / "ok.png").write_bytes(cv2.imencode(".png", smooth_image(rng, 64, 64))[1].tobytes())
        (d / fname).write_bytes(data)

    # Headers intact, the scan data replaced by random bytes (stray markers), EOI kept at the end.
    corrupt = bytearray(ok)
    corrupt[600:] = rng.integers(0, 256, len(corrupt) - 600, dtype=np.uint8).tobytes()
    one("bad_corrupt", "corrupt.jpg", bytes(corrupt) + b"\xff\xd9")
    # A JPEG whose header is damaged beyond decoding: SOI, then garbage, then EOI.
    one("bad_garbage", "garbage.jpg", b"\xff\xd8\xff" + bytes(rng.integers(0, 256, 4000, dtype=np.uint8)) + b"\xff\xd9")
    one("bad_empty", "zero.png", b"")
    one("bad_text", "readme.jpg", b"this is a text file, not a JPEG\n" * 20)
    one("bad_trunc", "cut.jpg", ok[: len(ok) * 2 // 3])
    # A class folder with no image (a text file only), beside a good one.
    (base / "bad_emptyclass/full").mkdir(parents=True)
    (base / "bad_emptyclass/full/a.png").write_bytes(cv2.imencode(".png", smooth_image(rng, 32, 32))[1].tobytes())
    (base / "bad_emptyclass/hollow").mkdir(parents=True)
    (base / "bad_emptyclass/hollow/readme.txt").write_text("no image here\n")
    # No class folders at all.
    (base / "bad_noclass").mkdir(parents=True)
    (base / "bad_noclass/a.jpg").write_bytes(ok)
    # train/val whose classes differ.
    for split, classes in (("train", ("ants", "bees")), ("val", ("ants", "wasps"))):
        for c in classes:
            (base / "mismatch" / split / c).mkdir(parents=True)
            (base / "mismatch" / split / c / "a.jpg").write_bytes(ok)


def cv2_eval(path, resize=256, crop=224):
    """The transform cltrain implements, in cv2 + numpy: same decoder, same cv2.resize calls."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    h, w = img.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(resize * long / short)
    nh, nw = (new_long, resize) if w <= h else (resize, new_long)
    if (nh, nw) != (h, w):
        interp = cv2.INTER_AREA if nh < h and nw < w else cv2.INTER_LINEAR
        img = cv2.resize(img, (nw, nh), interpolation=interp)
    top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
    img = img[top:top + crop, left:left + crop, ::-1].astype(np.float64) / 255.0
    return ((img - MEAN) / STD).transpose(2, 0, 1).astype(np.float32)


def cv2_augment(path, box, flip, crop=224):
    """The augmentation with given choices: crop, resize (INTER_AREA when both sides shrink,
    else INTER_LINEAR), flip, normalise."""
    i, j, h, wd = box
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)[i:i + h, j:j + wd]
    if (h, wd) != (crop, crop):
        interp = cv2.INTER_AREA if h > crop and wd > crop else cv2.INTER_LINEAR
        img = cv2.resize(img, (crop, crop), interpolation=interp)
    if flip:
        img = img[:, ::-1]
    img = img[..., ::-1].astype(np.float64) / 255.0
    return ((img - MEAN) / STD).transpose(2, 0, 1).astype(np.float32)


def generate(w):
    import torch
    from torchvision import datasets, transforms

    root = w.out / "imagefolder"
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(20261128)
    write_good(root / "good", rng)
    write_bad(root, rng)

    ds = datasets.ImageFolder(str(root / "good"))
    rel = [p[len(str(root / "good")) + 1:] for p, _ in ds.samples]
    pil_tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize(MEAN.tolist(), STD.tolist())])
    x_cv = np.stack([cv2_eval(root / "good" / r) for r in rel])
    x_pil = torch.stack([pil_tf(ds.loader(p)) for p, _ in ds.samples]).numpy()
    # Strings travel as their bytes, one per line.
    as_bytes = lambda lines: np.frombuffer("\n".join(lines).encode(), dtype=np.uint8).astype(np.int32)
    w.case("data_imagefolder", paths=as_bytes(rel), labels=np.array([t for _, t in ds.samples]),
           classes=as_bytes(ds.classes))
    w.case("data_eval", x_cv=x_cv, x_pil=x_pil)
    # Other sizes: Resize(160) + CenterCrop(128) on the same images, cv2 pipeline only.
    w.case("data_eval_160_128", x_cv=np.stack([cv2_eval(root / "good" / r, 160, 128) for r in rel]))

    # The augmentation at fixed choices (image, i, j, h, w, flip): both sides shrinking, both
    # growing, mixed, the whole image, a 1-pixel-wide sliver.
    import torchvision.transforms.functional as F

    picks = [("a_lower/land.jpg", 10, 20, 250, 300, 1), ("a_lower/land.jpg", 0, 0, 100, 120, 0),
             ("B_upper/Z.PNG", 5, 7, 300, 150, 1), ("a_lower/n/small.png", 0, 0, 150, 100, 0),
             ("c3/tall.tif", 400, 0, 230, 230, 1), ("B_upper/Z.PNG", 100, 499, 300, 1, 0)]
    norm = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN.tolist(), STD.tolist())])
    a_cv, a_pil = [], []
    for r, i, j, h, wd, flip in picks:
        a_cv.append(cv2_augment(root / "good" / r, (i, j, h, wd), flip))
        img = F.resized_crop(ds.loader(str(root / "good" / r)), i, j, h, wd, [224, 224])
        a_pil.append(norm(F.hflip(img) if flip else img).numpy())
    w.case("data_augment", index=np.array([rel.index(p[0]) for p in picks]),
           boxes=np.array([p[1:5] for p in picks]), flips=np.array([p[5] for p in picks]),
           x_cv=np.stack(a_cv), x_pil=np.stack(a_pil))

    # Photo-like JPEGs in the shape of the tutorial's data set (which a user's clone lacks):
    # camera sizes, progressive and baseline, a grayscale JPEG, an EXIF orientation tag (which,
    # like torchvision, cltrain ignores), names with spaces and brackets, one .jpeg.
    photos = root / "photos"
    write_photos(photos, rng)
    pds = datasets.ImageFolder(str(photos))
    # the first 4 (brackets, progressive, grayscale), the EXIF-tagged ant and the last 3 bees
    picks = pds.samples[:4] + [s for s in pds.samples if s[0].endswith("ants_05.jpg")] + pds.samples[-3:]
    w.case("data_photos_eval", x_cv=np.stack([cv2_eval(p) for p, _ in picks]),
           x_pil=torch.stack([pil_tf(pds.loader(p)) for p, _ in picks]).numpy(),
           index=np.array([pds.samples.index(s) for s in picks]))


PHOTO_SIZES = [(333, 500), (500, 375), (375, 500), (500, 333), (331, 499), (450, 600), (240, 320), (517, 333)]


def write_photos(root, rng):
    """photos/{ants,bees}: 11 ants and 13 bees (24 JPEGs) of PHOTO_SIZES, see generate()."""
    from PIL import Image

    for cls, count in (("ants", 11), ("bees", 13)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            h, w = PHOTO_SIZES[(i + len(cls)) % len(PHOTO_SIZES)]
            img = smooth_image(rng, h, w)
            name = f"{cls}_{i:02d}.jpg"
            params = [cv2.IMWRITE_JPEG_QUALITY, 90]
            if i == 1:
                name = f"{cls} photo (2).jpg"
            if i == 2:
                params += [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
            if i == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)  # a one-channel JPEG
            if i == 4 and cls == "ants":
                name = f"{cls}_{i:02d}.jpeg"
            assert cv2.imwrite(str(root / cls / name), img, params), name
            if i == 5:  # an EXIF orientation tag (rotate 90), written by PIL
                exif = Image.Exif()
                exif[274] = 6
                Image.fromarray(img[..., ::-1].copy()).save(root / cls / name, quality=90, exif=exif.tobytes())
