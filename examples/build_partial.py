"""Build examples/submissions/partial.zip: the correct example with realistic student mistakes.

    python examples/build_partial.py

Each entry of MISTAKES replaces the body of one function of examples/submissions/correct/ with
what a student who holds one misconception (or ran out of time) would write. The zip is
deterministic (fixed timestamps), so rebuilding it without changes leaves it byte-identical.
"""
from __future__ import annotations

import ast
import textwrap
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORRECT = HERE / "submissions" / "correct"
TARGET = HERE / "submissions" / "partial.zip"

# (module, function or Class.method) -> new body. Comments say what the grader should catch.
MISTAKES = {
    # Q1.3: dW2 built from the pre-activation z1 instead of h = tanh(z1).
    ("mlp", "output_layer_grads"): """
        x, h, p = _forward64(x, params)
        z1 = np.arctanh(np.clip(h, -1 + 1e-12, 1 - 1e-12))
        dz = _dlogits(p, y)
        return {"W2": dz.T @ z1, "b2": dz.sum(axis=0)}
    """,
    # Q3.1: no max shift: exp overflows for logits near 1e4.
    ("softmax", "log_softmax"): """
        z = np.asarray(z, dtype=np.float64)
        return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    """,
    # Q2.1: dropout not inverted (the kept activations are not rescaled by 1/(1-p)).
    ("training", "dropout"): """
        if not train:
            return np.array(x, dtype=np.float64), np.ones_like(x, dtype=np.float64)
        mask = (rng.random(np.shape(x)) >= p).astype(np.float64)
        return x * mask, mask
    """,
    # Q2.7: the last, smaller batch is dropped.
    ("training", "minibatches"): """
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]
    """,
    # Q2.8: Adam not attempted.
    ("training", "adam_step"): """
        raise NotImplementedError("Q2.8: implement adam_step")
    """,
    # Q3.4: in-place operations not attempted.
    ("autodiff", "Var.add_"): """
        raise NotImplementedError("Q3.4: implement Var.add_")
    """,
    ("autodiff", "Var.mul_"): """
        raise NotImplementedError("Q3.4: implement Var.mul_")
    """,
    # Q4.2: convolution backward not attempted.
    ("cnn", "conv2d_backward"): """
        raise NotImplementedError("Q4.2: implement conv2d_backward")
    """,
    # Q5.6: the variance used as a standard deviation.
    ("vae", "reparameterize"): """
        return mu + torch.exp(logvar) * eps
    """,
    # Q5.3: log(1 - sigmoid(l)) computed naively: 1 - sigmoid(l) rounds to 0 for large logits,
    # so the loss is -inf and its gradient nan.
    ("gan", "generator_loss_saturating"): """
        return torch.log(1 - torch.sigmoid(fake_logits)).mean()
    """,
}


def replace_body(source: str, qualname: str, body: str) -> str:
    """`source` with the body of function `qualname` (after its docstring) replaced by `body`."""
    node = _find(ast.parse(source), qualname.split("."))
    first = node.body[1] if ast.get_docstring(node) else node.body[0]
    lines = source.splitlines(keepends=True)
    indent = " " * first.col_offset
    new = textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", indent)
    return "".join(lines[: first.lineno - 1]) + new + "".join(lines[node.end_lineno:])


def _find(tree, path):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == path[0]:
            return node if len(path) == 1 else _find(node, path[1:])
    raise KeyError(".".join(path))


def build() -> None:
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sorted(CORRECT.glob("*.py"))}
    for (module, qualname), body in MISTAKES.items():
        sources[module] = replace_body(sources[module], qualname, body)
    with zipfile.ZipFile(TARGET, "w", zipfile.ZIP_DEFLATED) as archive:
        for module, text in sources.items():
            info = zipfile.ZipInfo(f"partial/{module}.py", date_time=(2019, 11, 20, 9, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)


if __name__ == "__main__":
    build()
    print(f"wrote {TARGET.relative_to(HERE.parent)}")
