"""Renders the SVG pictures the example programs write with headless Chromium
(Debian's `chromium`, installed by scripts/setup.sh --test) and checks that
each is a real picture: not blank, with dark text/lines and coloured marks.

usage: svg_render.py BUILD/examples
Trains a tiny model on a synthetic CSV table with --history (training curves)
and evaluates it with --plot (confusion-matrix heat map).
"""
import os, random, shutil, struct, subprocess, sys, tempfile, zlib

bin_dir = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="minidl_svg_")
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    print("chromium not found (scripts/setup.sh --test installs it)"); sys.exit(1)

def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of (r, g, b)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"unexpected PNG type {depth}/{ctype}"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return rows

def check_picture(svg, width, height, name):
    png = os.path.join(tmp, name + ".png")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", "file://" + svg],
                   check=True, capture_output=True, timeout=120)
    px = [p for row in png_pixels(png) for p in row]
    white = sum(1 for p in px if min(p) > 245) / len(px)
    dark = sum(1 for p in px if max(p) < 90) / len(px)
    colours = {(p[0] // 32, p[1] // 32, p[2] // 32) for p in px if max(p) - min(p) > 60}
    print(f"{name}: {len(px)} pixels, {white:.1%} white, {dark:.2%} dark, {len(colours)} saturated colours")
    problems = []
    if white > 0.995: problems.append("blank (all white)")
    if white < 0.3: problems.append("not a plot on a white background")
    if dark < 0.002: problems.append("no text or axes")
    if len(colours) < 2: problems.append("no coloured marks")
    return [f"{name}: {p}" for p in problems]

# A table: 3 classes, 4 features in [0, 1].
random.seed(1)
csv = os.path.join(tmp, "table.csv")
with open(csv, "w") as f:
    f.write("a,b,c,d,label\n")
    for i in range(300):
        c = i % 3
        f.write(",".join(f"{min(1, max(0, 0.2 + 0.25 * ((c + j) % 3) + random.gauss(0, 0.04))):.4f}" for j in range(4)) + f",{c}\n")
model = os.path.join(tmp, "m.safetensors")
run = lambda *a: subprocess.run([os.path.join(bin_dir, a[0]), *a[1:]], check=True, capture_output=True, text=True)
run("train_seed_cnn", "--data", csv, "--model", "linear:16,relu,linear:3", "--epochs", "5", "--lr", "0.05",
    "--val-fraction", "0.2", "--history", os.path.join(tmp, "h"), "--out", model)
run("evaluate", model, "--data", csv, "--plot", os.path.join(tmp, "cm.svg"))
failures = check_picture(os.path.join(tmp, "h.svg"), 960, 360, "training curves")
failures += check_picture(os.path.join(tmp, "cm.svg"), 400, 400, "confusion matrix")
shutil.rmtree(tmp)
if failures:
    print("FAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("pictures render")
