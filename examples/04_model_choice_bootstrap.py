"""Example 4: which circuit, and how sure -- a new arc appears partway through a series.

Synthetic relaxation series (``fastfit.synthetic.new_arc_series``): a cell with an
electrolyte (grain boundary) arc at 30 kHz and an interface arc at 300 Hz whose
resistance R2 grows from 40 to 100 Ω over 24 h; after 10 h an interphase arc appears at
3 Hz and grows to 60 Ω.  Steps:

1. ``ff.compare`` fits two and three R‖CPE arcs to every spectrum (one batched fit
   each) and chooses one per spectrum by BIC: the third arc is found when it appears;
2. ``ff.bootstrap`` (residual resampling, refits warm-started from each optimum in
   compiled batches) gives percentile intervals of every parameter of the chosen
   circuit, next to the linearised (covariance) intervals; their coverage of the truth
   is counted for the drifting R2;
3. the new arc's effective capacitance with bootstrap intervals
   (``fastfit.analysis.effective_capacitance(..., samples=True)``);
4. ``ff.profile`` of the new arc's resistance on the first spectra after it appears
   (small arc, least certain): the likelihood interval beside the other two;
5. ``FitResult.summary(bootstrap=...)`` flags parameters whose bootstrap and linearised
   intervals differ by more than 2x.

Figures: ``model_choice.png`` (chosen circuit and BIC weights over time),
``R2_bootstrap_bands.png`` (R2 and R3 over time with 95 % bootstrap bands, linearised
error bars and the truth), ``nyquist_before_after.png``.

Run:  python examples/04_model_choice_bootstrap.py [--out DIR] [--quick]
"""
from __future__ import annotations

import numpy as np

from _common import Timer, parse_args, save, table, write_summary

import fastfit as ff
from fastfit import analysis as fa
from fastfit import plot
from fastfit import synthetic as syn

CIRCUITS = list(syn.ARC_SERIES_CIRCUITS)     # two arcs, three arcs
T_APPEAR_H = 10.0


def _options(p):
    p.add_argument("--seed", type=int, default=0, help="noise seed of the synthetic series")


def chosen_bootstrap(cmp, freq, Z, n_boot):
    """Bootstrap each candidate on the spectra where it was chosen; per spectrum the
    chosen circuit's value, bootstrap and linearised 95 % intervals of R2 (and R3)."""
    N = len(cmp)
    out = {k: np.full(N, np.nan) for k in ("R2", "R2_lo", "R2_hi", "R2_llo", "R2_lhi",
                                           "R3", "R3_lo", "R3_hi", "C3", "C3_lo", "C3_hi")}
    boots = {}
    for m, circuit in enumerate(CIRCUITS):
        rows = np.flatnonzero(cmp.best_index == m)
        if rows.size == 0:
            continue
        r = cmp.results[m][rows]
        bs = ff.bootstrap(r, freq, Z[rows], n=n_boot, kind="residual", seed=1)
        boots[circuit] = (rows, r, bs)
        lo, hi = bs.ci(0.95)
        llo, lhi = bs.linear_ci(0.95)
        k2 = r.circuit.param_index("R2")
        out["R2"][rows], out["R2_lo"][rows], out["R2_hi"][rows] = r.params[:, k2], lo[:, k2], hi[:, k2]
        out["R2_llo"][rows], out["R2_lhi"][rows] = llo[:, k2], lhi[:, k2]
        if "R3" in r.param_names:
            k3 = [r.circuit.param_index(n) for n in ("R3", "CPE3_Q", "CPE3_n")]
            out["R3"][rows] = r.params[:, k3[0]]
            out["R3_lo"][rows], out["R3_hi"][rows] = lo[:, k3[0]], hi[:, k3[0]]
            C = fa.effective_capacitance(*(bs.samples[..., k] for k in k3), samples=True)
            out["C3"][rows] = fa.effective_capacitance(*(r.params[:, k] for k in k3))
            out["C3_lo"][rows], out["C3_hi"][rows] = C.lo, C.hi
    return out, boots


def figures(args, freq, Z, t_h, truth, cmp, est):
    from fastfit.plot import new_figure

    save(plot.model_choice(t_h * 3600.0, cmp.best_index, cmp.weights, CIRCUITS,
                           title="BIC choice per spectrum (third arc appears at 10 h)"),
         args.out, "model_choice.png")
    fig = new_figure((8.0, 6.0))
    ax2, ax3 = fig.subplots(2, 1, sharex=True)
    ax2.fill_between(t_h, est["R2_lo"], est["R2_hi"], color="C0", alpha=0.3, lw=0,
                     label="95 % bootstrap band")
    ax2.errorbar(t_h, est["R2"], yerr=[est["R2"] - est["R2_llo"], est["R2_lhi"] - est["R2"]],
                 fmt="o", ms=3, color="C0", capsize=2, label="fit ± linearised 95 %")
    ax2.plot(t_h, truth[:, 4], "k--", lw=1, label="truth")
    ax2.set_ylabel("R2, interface (Ω)")
    ax2.legend(fontsize="x-small")
    ax2.grid(True, alpha=0.3)
    has3 = np.isfinite(est["R3"])
    ax3.fill_between(t_h[has3], est["R3_lo"][has3], est["R3_hi"][has3], color="C1", alpha=0.3,
                     lw=0, label="95 % bootstrap band")
    ax3.plot(t_h[has3], est["R3"][has3], "o", ms=3, color="C1", label="fit (3 arcs chosen)")
    ax3.plot(t_h, truth[:, 7], "k--", lw=1, label="truth")
    ax3.axvline(T_APPEAR_H, color="0.5", lw=0.8, ls=":")
    ax3.set_ylabel("R3, new arc (Ω)")
    ax3.set_xlabel("time (h)")
    ax3.legend(fontsize="x-small")
    ax3.grid(True, alpha=0.3)
    save(fig, args.out, "R2_bootstrap_bands.png")
    first_new = int(np.argmax(truth[:, 7] > 0))
    picks = [0, first_new, len(t_h) - 1]
    fig = new_figure((6.5, 5.0))
    ax = fig.subplots()
    for i in picks:
        ax.plot(Z[i].real, -Z[i].imag, "o", ms=3, label=f"{t_h[i]:.1f} h: {cmp.best[i]}")
        r = cmp.results[cmp.best_index[i]]
        ax.plot(r.Z_fit[i].real, -r.Z_fit[i].imag, "-", lw=1, color="0.3")
    ax.set_xlabel("Z' (Ω)")
    ax.set_ylabel("-Z'' (Ω)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize="x-small")
    ax.grid(True, alpha=0.3)
    save(fig, args.out, "nyquist_before_after.png")


def main():
    args = parse_args("04_model_choice_bootstrap", __doc__.splitlines()[0], _options)
    n_spectra, n_boot = (12, 30) if args.quick else (48, 200)
    with Timer("example 4 total"):
        freq, Z, t_h, truth = syn.new_arc_series(n_spectra, seed=args.seed,
                                                 t_appear_h=T_APPEAR_H)
        print(f"{n_spectra} spectra over {t_h[-1]:.0f} h, {freq.size} points "
              f"{freq.max():.3g} - {freq.min():.3g} Hz, 0.5 % noise; a third arc from "
              f"{T_APPEAR_H:.0f} h")
        with Timer("compare (2 circuits)"):
            cmp = ff.compare(freq, Z, CIRCUITS)
        print(cmp.summary())
        true_best = (truth[:, 7] > 0).astype(int)
        switch = t_h[np.argmax(cmp.best_index == 1)] if (cmp.best_index == 1).any() else np.nan
        print(f"third arc first chosen at {switch:.1f} h (it appears at {T_APPEAR_H:.0f} h); "
              f"{int(np.sum(cmp.best_index != true_best))} spectra differ from the generator")
        with Timer(f"bootstrap ({n_boot} resamples per spectrum)"):
            est, boots = chosen_bootstrap(cmp, freq, Z, n_boot)
        inside = (est["R2_lo"] <= truth[:, 4]) & (truth[:, 4] <= est["R2_hi"])
        inside_lin = (est["R2_llo"] <= truth[:, 4]) & (truth[:, 4] <= est["R2_lhi"])
        rows = []
        for i in range(n_spectra):
            rows.append([f"{t_h[i]:.1f}", str(cmp.best_index[i] + 2),
                         f"{cmp.weights[i, cmp.best_index[i]]:.3f}",
                         f"{est['R2'][i]:.2f}", f"{est['R2_lo'][i]:.2f} … {est['R2_hi'][i]:.2f}",
                         f"{est['R2_llo'][i]:.2f} … {est['R2_lhi'][i]:.2f}",
                         f"{truth[i, 4]:.2f}",
                         "-" if np.isnan(est["R3"][i]) else
                         f"{est['R3'][i]:.1f} [{est['R3_lo'][i]:.1f}, {est['R3_hi'][i]:.1f}]",
                         "-" if np.isnan(est["C3"][i]) else
                         f"{est['C3'][i] * 1e6:.1f} [{est['C3_lo'][i] * 1e6:.1f}, "
                         f"{est['C3_hi'][i] * 1e6:.1f}]"])
        print(table(["t (h)", "arcs", "weight", "R2 (Ω)", "bootstrap 95 %", "linearised 95 %",
                     "R2 true", "R3 (Ω) [95 %]", "C_eff,3 (µF) [95 %]"], rows,
                    title="\nChosen circuit per spectrum, drifting R2 and the new arc:"))
        print(f"R2 truth inside the 95 % interval: bootstrap {int(inside.sum())}/{n_spectra}, "
              f"linearised {int(inside_lin.sum())}/{n_spectra}")
        prof = None
        if CIRCUITS[1] in boots:
            rows3, r3, bs3 = boots[CIRCUITS[1]]
            first = r3[:2]
            with Timer("profile likelihood of R3 (first two 3-arc spectra)"):
                prof = ff.profile(first, freq, Z[rows3[:2]], "R3")
            print(prof.summary())
            print(r3.summary(max_rows=4, bootstrap=bs3))
        figures(args, freq, Z, t_h, truth, cmp, est)
        write_summary(args.out, {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in {
            "n_spectra": n_spectra, "n_boot": n_boot, "t_h": t_h, "circuits": CIRCUITS,
            "best_index": cmp.best_index, "true_best": true_best, "switch_h": switch,
            "t_appear_h": T_APPEAR_H, "R2": est["R2"], "R2_lo": est["R2_lo"],
            "R2_hi": est["R2_hi"], "R2_linear_lo": est["R2_llo"], "R2_linear_hi": est["R2_lhi"],
            "R2_true": truth[:, 4], "R3": est["R3"], "R3_true": truth[:, 7],
            "R2_covered_bootstrap": int(inside.sum()), "R2_covered_linear": int(inside_lin.sum()),
            "profile_R3_lo": None if prof is None else prof.lo,
            "profile_R3_hi": None if prof is None else prof.hi,
        }.items()})


if __name__ == "__main__":
    main()
