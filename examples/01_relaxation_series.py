"""Example 1 (the ``make demo`` script): a relaxation time series, from file to R_int(t).

Part A -- real data.  ``data/hybriddrt_Sample2_PEIS_AtRest.csv`` holds 10 consecutive PEIS
spectra (7 MHz - 10 mHz, ~20 min each) of a solid-state battery at rest:
NCM-LPSCl composite cathode | LPSCl separator | InLi, 25 °C, 50 MPa (hybrid-drt webinar
data, BSD-3-Clause; see data/README.md).  Steps: read -> Kramers-Kronig check (drop points
with > 5 % residual) -> fit the whole series at once (``fit_series``, CPE exponents shared)
-> area-normalise -> interface resistance, effective capacitance and apex frequency with
standard errors vs time -> table and figures.

Part B -- synthetic data from the reference study (Na | NZSP | Na, 6 mm electrodes): the
interface resistance relaxes from 40 to 10 Ω cm² while the glovebox temperature wobbles by
± 2 °C.  The fitted R_int(t) is corrected to 25 °C with the thermocouple log, which
removes the wobble; the result is compared with the generator's truth.

Run:  python examples/01_relaxation_series.py [--out DIR] [--quick] [--area-cm2 A]
"""
from __future__ import annotations

import numpy as np

from _common import DATA, Timer, parse_args, pm, save, table, write_summary

import fastfit as ff
from fastfit import analysis as fa
from fastfit import plot
from fastfit import synthetic as syn

DATA_FILE = DATA / "hybriddrt_Sample2_PEIS_AtRest.csv"

# Equivalent circuit for the real spectra.  Tried on all 10 spectra (modulus weighting,
# fastfit.fit; chi2_red = mean reduced chi2, "max res" = largest |Z_fit - Z| / |Z|):
#   R0-p(R1,CPE1)-p(R2,CPE2)-CPE3                chi2_red 3.1e-4, max res 8 %, R0 -> 0
#   R0-p(R1,CPE1)-p(R2,CPE2)-Wo1                 chi2_red 3.0e-4, max res 8 %, Wo1 -> 0
#   R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)          chi2_red 1.0e-4, max res 5.6 %
#   R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-CPE4     chi2_red 8.5e-5, R0 -> 0, one SINGULAR
#   R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-Wo1      chi2_red 6.2e-5, max res 6.3 % (7 MHz)
#   L0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-Wo1      chi2_red 4.7e-5, max res 4.0 %, all converged
# The last one is used: the lowest chi2 and AIC, every spectrum converged, every
# parameter but the Warburg time constant determined to better than ~25 %.  Its parts:
#   L0          lead inductance (~0.1 µH; it bends the 7 MHz end of the spectrum);
#   p(R1,CPE1)  LPSCl separator, bulk and grain boundaries merged, apex near 7 MHz -- no
#               series R0: the separator arc starts at Z = 0 (an R0 went to 0 when fitted);
#   p(R2,CPE2)  a strongly dispersed arc (n ~ 0.4) around 100 Hz: ion transport in the
#               composite cathode / the anode interface (tentative);
#   p(R3,CPE3)  the cathode charge-transfer interface (n ~ 0.85, C_eff ~ 30 µF cm⁻²,
#               apex ~ 30 Hz): its resistance is R_int;
#   Wo1         solid-state diffusion tail below 0.1 Hz (finite-length, open).
# The KK residuals are ~0.15 % rms, the fit residuals ~0.7 % rms: a transmission-line
# model of the composite cathode would fit better, but is not needed for R_int(t).
CIRCUIT = "L0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-Wo1"
# At rest the dispersion of each process does not change: one CPE exponent per process
# for the whole series (fitted jointly) steadies the resistances and capacitances.
SHARED = ["CPE1_n", "CPE2_n", "CPE3_n"]

# Electrode area.  The data's sample_info file (hybriddrt_webinar_SSB_sample_info.txt) gives
# cell chemistry, 25 °C and 50 MPa but no area or diameter.  ASSUMPTION: a 10 mm die, the
# usual size of pressure cells for sulfide SSBs, A = pi (0.5 cm)^2 = 0.785 cm².  Override
# with --area-cm2; every area-specific number scales with it.
DEFAULT_AREA_CM2 = float(fa.area_from_diameter(d_mm=10.0))


def _options(p):
    p.add_argument("--area-cm2", type=float, default=DEFAULT_AREA_CM2,
                   help=f"electrode area of the real cell, cm² (default {DEFAULT_AREA_CM2:.3f}: "
                        "assumed 10 mm diameter)")


def _fit_curve(result, i, f_lo, f_hi):
    """The fitted model of spectrum i on a fine log grid (a smooth line in the plots)."""
    fc = np.logspace(np.log10(f_hi), np.log10(f_lo), 400)
    return fc, result.circuit.impedance(fc, result.params[i])


def real_series(args):
    print(f"\n=== Part A: real SSB relaxation series ({DATA_FILE.name}) ===")
    series = ff.read(DATA_FILE)
    if args.quick:
        series = series[:4]
    t_min = (series.time - series.time[0]) / 60.0
    print(f"{len(series)} spectra x {series.freq.shape[1]} points, "
          f"{series.freq.max():.3g} Hz - {series.freq.min():.3g} Hz, "
          f"one every {np.median(np.diff(series.time)) / 60:.1f} min")

    # --- Kramers-Kronig: drop end points whose lin-KK residual exceeds 5 % of |Z| ---------
    with Timer("lin-KK"):
        k = ff.kk(series, max_rel_residual=0.05)
    drift = k.nonstationary
    print(f"lin-KK: {int(k.valid.sum())}/{len(k)} spectra valid, "
          f"{int(k.n_excluded.sum())} points dropped, max |residual| "
          f"{100 * np.nanmax(k.max_residual):.2f} %, "
          f"nonstationary: {int(drift.sum()) if drift is not None else 'n/a'}")

    # --- fit the whole series in one call --------------------------------------------------
    with Timer("fit_series"):
        res = ff.fit_series(series, CIRCUIT, mask=k.mask, shared=SHARED)
    if not res.ok.all():
        bad = np.flatnonzero(~res.ok).tolist()
        print(f"WARNING: spectra {bad} did not converge: {[res.message[b] for b in bad]}")
    rms = 100 * np.sqrt(res.chi2 / (2 * res.n_points))      # % of |Z| (modulus weighting)
    print(f"{CIRCUIT}: {int(res.ok.sum())}/{len(res)} converged, chi2_red {res.chi2_red[0]:.2g} "
          f"(whole series), rms residual {rms.min():.2f}-{rms.max():.2f} % of |Z|")
    # This circuit is not a plain chain of R||CPE blocks (it has L0 and Wo1), so fastfit
    # does not sort its arcs by time constant: check that R1, R2, R3 are the fast, middle
    # and slow arc in every spectrum, so that a name means the same process throughout.
    tau = np.stack([fa.relaxation_time(res.param(f"R{b}"), res.param(f"CPE{b}_Q"),
                                       res.param(f"CPE{b}_n")) for b in (1, 2, 3)], axis=1)
    if not np.all(np.diff(tau, axis=1) > 0):
        print("WARNING: the arcs are not in the order R1 (fast) < R2 < R3 (slow) in spectra "
              f"{np.flatnonzero(~np.all(np.diff(tau, axis=1) > 0, axis=1)).tolist()}")
    n_shared = ", ".join(f"{n} = {pm(res.param(n)[0], res.stderr[0, res.circuit.param_index(n)])}"
                         for n in SHARED)
    print(f"shared: {n_shared}")

    # --- area normalisation and derived quantities -----------------------------------------
    A = args.area_cm2
    how = "assumed 10 mm diameter" if A == DEFAULT_AREA_CM2 else "given"
    print(f"electrode area {A:.3f} cm² ({how})")
    i_R = {n: res.circuit.param_index(n) for n in ("R1", "R2", "R3")}
    R_sep = fa.to_area_specific(res.param("R1"), A)
    R_int = fa.to_area_specific(res.param("R3"), A)
    R_int_se = fa.to_area_specific(res.stderr[:, i_R["R3"]], A)
    d_int = fa.rcpe_from_fit(res, R="R3", CPE="CPE3", area_cm2=A)
    d_sep = fa.rcpe_from_fit(res, R="R1", CPE="CPE1", area_cm2=A)
    d_mid = fa.rcpe_from_fit(res, R="R2", CPE="CPE2", area_cm2=A)
    print("C_eff (first spectrum): separator "
          f"{d_sep.C_eff_areal[0] * 1e9:.3g} nF cm⁻², mid arc {d_mid.C_eff_areal[0] * 1e6:.3g} "
          f"µF cm⁻², interface {d_int.C_eff_areal[0] * 1e6:.3g} µF cm⁻²")

    rows = []
    for i in range(len(res)):
        rows.append([f"{i}", f"{t_min[i]:.0f}", pm(R_sep[i], fa.to_area_specific(
            res.stderr[i, i_R["R1"]], A)), pm(R_int[i], R_int_se[i]),
            pm(d_int.C_eff_areal[i] * 1e6, d_int.C_eff_areal_stderr[i] * 1e6),
            pm(d_int.f_apex[i], d_int.f_apex_stderr[i]), f"{rms[i]:.2f}",
            "ok" if res.ok[i] else "FAILED"])
    print(table(["#", "t (min)", "R_sep (Ω cm²)", "R_int (Ω cm²)", "C_eff,int (µF cm⁻²)",
                 "f_apex,int (Hz)", "rms res (%)", "status"], rows,
                title="\nInterface (R3||CPE3) over time, area-specific:"))
    change = 100 * (R_int[-1] / R_int[0] - 1)
    scatter = 100 * np.std(np.diff(R_int)) / np.mean(R_int) / np.sqrt(2) if len(R_int) > 2 \
        else float("nan")
    print(f"R_int changes by {change:+.2f} % over {t_min[-1]:.0f} min.  Its standard error "
          f"({100 * R_int_se[0] / R_int[0]:.1f} %) is mostly the trade-off between the two "
          "overlapping low-frequency arcs R2 and R3, common to all spectra; the spectrum-to-"
          f"spectrum scatter is {scatter:.2f} %.")

    # --- figures -----------------------------------------------------------------------------
    f = series.freq[0]
    for i, tag in ((0, "first"), (len(series) - 1, "last")):
        fig = plot.nyquist(series.freq[i], series.Z[i], res.Z_fit[i], mask=res.mask[i],
                           fit_curve=_fit_curve(res, i, f.min(), f.max()),
                           title=f"SSB at rest, spectrum {i} (t = {t_min[i]:.0f} min)")
        save(fig, args.out, f"real_nyquist_{tag}.png")
    fig = plot.bode(series.freq[0], series.Z[0], res.Z_fit[0], mask=res.mask[0],
                    fit_curve=_fit_curve(res, 0, f.min(), f.max()), title="spectrum 0")
    save(fig, args.out, "real_bode_first.png")
    vals = np.stack([R_sep, fa.to_area_specific(res.param("R2"), A), R_int,
                     d_int.C_eff_areal * 1e6, d_int.f_apex, res.param("Wo1_R")], axis=1)
    errs = np.stack([fa.to_area_specific(res.stderr[:, i_R["R1"]], A),
                     fa.to_area_specific(res.stderr[:, i_R["R2"]], A), R_int_se,
                     d_int.C_eff_areal_stderr * 1e6, d_int.f_apex_stderr,
                     res.stderr[:, res.circuit.param_index("Wo1_R")]], axis=1)
    fig = plot.params_vs_time(vals, ["R_sep", "R_mid", "R_int", "C_eff,int", "f_apex,int",
                                     "R_W (Wo1)"], time=series.time - series.time[0],
                              stderr=errs, status=res.status,
                              units=["Ω cm²", "Ω cm²", "Ω cm²", "µF cm⁻²", "Hz", "Ω"],
                              title="SSB at rest: fitted quantities vs time (±1 s.e.)")
    save(fig, args.out, "real_params_vs_time.png")
    return {"n_spectra": len(res), "converged": int(res.ok.sum()),
            "R_int_ohm_cm2": R_int.tolist(), "R_int_stderr_ohm_cm2": R_int_se.tolist(),
            "C_eff_int_F_cm2": d_int.C_eff_areal.tolist(), "f_apex_int_Hz": d_int.f_apex.tolist(),
            "rms_residual_pct": rms.tolist(), "kk_valid": int(k.valid.sum()),
            "kk_dropped_points": int(k.n_excluded.sum()), "area_cm2": A}


def synthetic_relaxation(args):
    print("\n=== Part B: synthetic interface relaxation with a ±2 °C temperature wobble ===")
    n = 12 if args.quick else 48
    # one spectrum every 7 min; R_int 40 -> 10 Ω cm² (tau 90 min), T = 25 ± 2 °C (2 h period),
    # thermocouple logged once a minute with 0.1 °C resolution
    dt = 420.0 * 48 / n
    freq, Z, truth = syn.reference_relaxation_series(n=n, seed=1, noise=0.005, dt_s=dt,
                                                     log_resolution_C=0.1)
    A = truth["area_cm2"]
    circuit = truth["circuit"]           # R0-p(R1,CPE1)-p(R2,CPE2): bulk, GB, interface
    with Timer("fit_series"):
        res = ff.fit_series(freq, Z, circuit, shared=["CPE1_n", "CPE2_n"])
    print(f"{circuit}: {int(res.ok.sum())}/{len(res)} converged, chi2_red {res.chi2_red[0]:.2g}")
    R_int = fa.to_area_specific(res.param("R2"), A)
    R_int_se = fa.to_area_specific(res.stderr[:, res.circuit.param_index("R2")], A)

    # temperature of each spectrum from the log, then correct to 25 °C with the interface
    # activation energy (the study's 0.37 eV; example 2 shows how to measure it)
    T_K = fa.interpolate_temperature(truth["time"], truth["log_time"], truth["log_T_C"])
    T_ref = truth["T_ref_C"] + 273.15
    cor = fa.correct_to_reference(R_int, T_K, T_ref, truth["Ea_eV"]["interface"],
                                  Ea_stderr=0.005,     # eV, assumed uncertainty of the value
                                  R_stderr=R_int_se,
                                  T_stderr_K=0.1 / np.sqrt(12))
    true_ref = truth["R_int_ref_ohm_cm2"]
    z_raw = (R_int - true_ref) / R_int_se
    z_cor = (cor.R_ref - true_ref) / cor.stderr
    step = max(1, n // 8)
    rows = [[f"{truth['time'][i] / 60:.0f}", f"{T_K[i] - 273.15:.2f}", pm(R_int[i], R_int_se[i]),
             pm(cor.R_ref[i], cor.stderr[i]), f"{true_ref[i]:.3g}"]
            for i in range(0, n, step)]
    print(table(["t (min)", "T (°C)", "R_int raw (Ω cm²)", "R_int @25 °C (Ω cm²)",
                 "truth @25 °C"], rows, title="\nInterface resistance ("
                 + ("every spectrum):" if step == 1 else f"every {step}th spectrum):")))
    print(f"deviation from truth in standard errors: raw rms {np.sqrt(np.mean(z_raw**2)):.1f}, "
          f"corrected rms {np.sqrt(np.mean(z_cor**2)):.2f} (max {np.max(np.abs(z_cor)):.2f})")

    t_min = truth["time"] / 60.0
    fig = plot.new_figure((7.0, 5.5))
    ax, axT = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.errorbar(t_min, R_int, yerr=R_int_se, fmt="o", ms=3, color="0.55",
                label="fitted (at the cell temperature)")
    ax.errorbar(t_min, cor.R_ref, yerr=cor.stderr, fmt="o", ms=3, color="C0",
                label="corrected to 25 °C")
    ax.plot(t_min, true_ref, color="C3", lw=1.2, label="truth at 25 °C")
    ax.set_ylabel("R_int (Ω cm²)")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    ax.set_title("Synthetic interface relaxation (reference cell, 0.5 % noise)")
    axT.plot(truth["log_time"] / 60.0, truth["log_T_C"], color="C1", lw=1)
    axT.set_ylabel("T (°C)")
    axT.set_xlabel("time (min)")
    axT.grid(True, alpha=0.3)
    save(fig, args.out, "synthetic_relaxation.png")
    return {"n_spectra": n, "converged": int(res.ok.sum()),
            "z_corrected_rms": float(np.sqrt(np.mean(z_cor**2))),
            "z_raw_rms": float(np.sqrt(np.mean(z_raw**2))),
            "R_int_corrected_ohm_cm2": cor.R_ref.tolist(), "R_int_true_ohm_cm2": true_ref.tolist()}


def main():
    args = parse_args("01_relaxation_series", __doc__.splitlines()[0], _options)
    with Timer("example 1 total"):
        a = real_series(args)
        b = synthetic_relaxation(args)
    write_summary(args.out, {"real": a, "synthetic": b})
    print(f"\nsummary: real fits converged {a['converged']}/{a['n_spectra']}, R_int "
          f"{a['R_int_ohm_cm2'][0]:.4g} Ω cm² (area {a['area_cm2']:.3f} cm²); synthetic R_int "
          f"corrected to 25 °C: rms deviation from truth {b['z_corrected_rms']:.2f} s.e. "
          f"(uncorrected {b['z_raw_rms']:.1f} s.e.)")


if __name__ == "__main__":
    main()
