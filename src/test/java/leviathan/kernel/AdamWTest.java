package leviathan.kernel;

import static leviathan.testing.Segments.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class AdamWTest {
    private static final int PARAMS = 210_000;             // about the default model's parameter count
    private static final float LR = 1e-3f, B1 = 0.9f, B2 = 0.95f, EPS = 1e-8f;

    @Test
    void matchesScalarExactly() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int n : GeluTest.concat(lengths(), PARAMS)) {
                for (float wd : new float[] {0f, 0.1f}) {
                    MemorySegment p = random(arena, n, rnd, 1), m = random(arena, n, rnd, 0.1), v = random(arena, n, rnd, 0.01);
                    for (long i = 0; i < n; i++) v.setAtIndex(FL, i, Math.abs(v.getAtIndex(FL, i)));   // a second moment is >= 0
                    MemorySegment p0 = copy(arena, p), m0 = copy(arena, m), v0 = copy(arena, v);
                    for (int step = 1; step <= 3; step++) {
                        MemorySegment g = random(arena, n, rnd, 1);
                        AdamW.step(p, g, m, v, n, LR, B1, B2, EPS, wd, step);
                        AdamW.stepScalar(p0, g, m0, v0, 0, n, LR, B1, B2, EPS, wd, step);
                    }
                    // the same float operations in the same order (no FMA, IEEE sqrt and division)
                    String at = " n=" + n + " wd=" + wd;
                    assertSame("param" + at, p, p0, n);
                    assertSame("m" + at, m, m0, n);
                    assertSame("v" + at, v, v0, n);
                }
            }
        }
    }

    @Test
    void followsTheFormulaInDouble() {
        var rnd = new SplittableRandom(SEED + 1);
        int n = 3 * Simd.lanes() + 5;                       // vector body and tail
        float wd = 0.1f;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment p = random(arena, n, rnd, 1), m = floats(arena, n), v = floats(arena, n);
            double[] pd = toDoubles(p, n), md = new double[n], vd = new double[n];
            for (int step = 1; step <= 5; step++) {
                MemorySegment g = random(arena, n, rnd, 1);
                if (step == 3) g.setAtIndex(FL, 0, 0f);           // a zero gradient still decays and moves by m
                AdamW.step(p, g, m, v, n, LR, B1, B2, EPS, wd, step);
                for (int i = 0; i < n; i++) {
                    double gi = g.getAtIndex(FL, i);
                    md[i] = B1 * md[i] + (1 - B1) * gi;
                    vd[i] = B2 * vd[i] + (1 - B2) * gi * gi;
                    double mHat = md[i] / (1 - Math.pow(B1, step)), vHat = vd[i] / (1 - Math.pow(B2, step));
                    pd[i] -= LR * (mHat / (Math.sqrt(vHat) + EPS) + wd * pd[i]);
                }
                for (int i = 0; i < n; i++) {
                    // float rounding of values of order 1, accumulated over 5 steps
                    assertEquals(pd[i], p.getAtIndex(FL, i), 1e-6 + 1e-6 * Math.abs(pd[i]), "param " + i + " step " + step);
                    assertEquals(md[i], m.getAtIndex(FL, i), 1e-7 + 1e-6 * Math.abs(md[i]), "m " + i + " step " + step);
                    assertEquals(vd[i], v.getAtIndex(FL, i), 1e-8 + 1e-6 * Math.abs(vd[i]), "v " + i + " step " + step);
                }
            }
        }
    }

    @Test
    void firstStepMovesByTheLearningRate() {
        try (Arena arena = Arena.ofShared()) {
            int n = 2 * Simd.lanes() + 1;
            MemorySegment p = floats(arena, n), m = floats(arena, n), v = floats(arena, n), g = floats(arena, n);
            for (int i = 0; i < n; i++) g.setAtIndex(FL, i, i % 2 == 0 ? 0.5f : -2f);
            AdamW.step(p, g, m, v, n, LR, B1, B2, EPS, 0f, 1);
            // with bias correction m̂ = g and v̂ = g², so the update is lr·g/|g|
            for (int i = 0; i < n; i++) assertEquals(i % 2 == 0 ? -LR : LR, p.getAtIndex(FL, i), 1e-9, "param " + i);
        }
    }

    @Test
    void sgdMatchesScalarAndFormula() {
        var rnd = new SplittableRandom(SEED + 2);
        try (Arena arena = Arena.ofShared()) {
            for (int n : GeluTest.concat(lengths(), PARAMS)) {
                MemorySegment p = random(arena, n, rnd, 1), g = random(arena, n, rnd, 1), p0 = copy(arena, p);
                double[] pd = toDoubles(p, n);
                AdamW.sgdStep(p, g, n, 0.1f, 0.01f);
                AdamW.sgdStepScalar(p0, g, 0, n, 0.1f, 0.01f);
                assertSame("sgd n=" + n, p, p0, n);              // same operations, same order
                for (int i = 0; i < Math.min(n, 100); i++) {
                    double expect = pd[i] - 0.1 * (g.getAtIndex(FL, i) + 0.01 * pd[i]);
                    assertEquals(expect, p.getAtIndex(FL, i), 1e-6, "sgd param " + i);   // float rounding of order-1 values
                }
            }
        }
    }

    @Test
    void sameResultForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 3);
        final int PARAMS = 17 * Elementwise.BLOCK + 3;       // enough for two tasks of Elementwise.LIGHT_TASK
        try (Arena arena = Arena.ofShared()) {
            MemorySegment p = random(arena, PARAMS, rnd, 1), g = random(arena, PARAMS, rnd, 1);
            MemorySegment p1 = copy(arena, p), m1 = floats(arena, PARAMS), v1 = floats(arena, PARAMS);
            withThreads(1, () -> AdamW.step(p1, g, m1, v1, PARAMS, LR, B1, B2, EPS, 0.1f, 1));
            for (int threads : new int[] {2, 3}) {
                MemorySegment pt = copy(arena, p), mt = floats(arena, PARAMS), vt = floats(arena, PARAMS);
                withThreads(threads, () -> AdamW.step(pt, g, mt, vt, PARAMS, LR, B1, B2, EPS, 0.1f, 1));
                assertSame("param, threads " + threads, pt, p1, PARAMS);
                assertSame("v, threads " + threads, vt, v1, PARAMS);
            }
        }
    }
}
