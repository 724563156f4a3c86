import gzip
import struct

import numpy as np
import pytest

from sk_uae.datasets import load_csv, load_digits_images, load_mnist_idx, read_idx


def test_digits_images():
    X, y = load_digits_images()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0 and set(np.unique(y)) == set(range(10))
    assert load_digits_images(return_X_y=False)["image_shape"] == (1, 8, 8)


def _write_idx(path, array, gz):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_mnist_loader(tmp_path, gz):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(5, 28, 28))
    labels = rng.randint(0, 10, size=5)
    suffix = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, gz)
    np.testing.assert_array_equal(read_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}"), images)
    X, y = load_mnist_idx(tmp_path, n_samples=4)
    assert X.shape == (4, 784) and X.max() <= 1.0
    np.testing.assert_allclose(X[0], images[0].ravel() / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels[:4])


def test_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00")
    with pytest.raises(ValueError, match="bytes"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="MNIST folder"):
        load_mnist_idx(tmp_path / "nowhere")


def test_shared_mnist(mnist_dir):
    X, y = load_mnist_idx(mnist_dir)
    assert X.shape == (10000, 784) and y.shape == (10000,)
    assert np.bincount(y).min() > 800


def test_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n0.5,1,0\n0.25,2,1\n")
    X, y, names = load_csv(p)
    assert X.shape == (2, 2) and names == ["a", "b"] and y.tolist() == [0, 1]
    (tmp_path / "s.csv").write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match="numeric"):
        load_csv(tmp_path / "s.csv")
    (tmp_path / "n.csv").write_text("a,b\n1,nan\n")
    with pytest.raises(ValueError, match="NaN"):
        load_csv(tmp_path / "n.csv")
