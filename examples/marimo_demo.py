"""sentrycam in marimo: `marimo edit examples/marimo_demo.py` (or `marimo run`).

A monitor is an anywidget: wrap it in `mo.ui.anywidget(...)` to display it. Frames stream into the
view while the training cell runs, as in Jupyter.
"""

import marimo

app = marimo.App()


@app.cell
def _():
    import time

    import marimo as mo
    import numpy as np

    import sentrycam

    cam = sentrycam.Monitor(reducer="pca")
    view = mo.ui.anywidget(cam)
    view
    return cam, np, time


@app.cell
def _(cam, np, time):
    # Stands in for a training loop: a layer whose classes drift apart step by step.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    for step in range(40):
        labels = rng.integers(0, 4, 300)
        acts = centres[labels] * (1 + step / 10) + rng.normal(size=(300, 16))
        cam.log(step, {"hidden": acts.astype("float32")}, labels=labels, loss=1 / (1 + step))
        time.sleep(0.25)
    cam.flush()
    return


if __name__ == "__main__":
    app.run()
