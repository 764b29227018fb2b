package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * float32 to bfloat16 conversion: bf16 is the top 16 bits of a float32 (sign, 8-bit exponent,
 * 7-bit mantissa), rounded to nearest, ties to even; NaN stays a (quiet) NaN. Used to feed bf16
 * GEMMs, whose accumulation and outputs stay float32.
 */
public final class Bf16 {
    private Bf16() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfShort SH = ValueLayout.JAVA_SHORT;
    /** Shorts as many as {@link Simd#F}'s lanes: half its width. */
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));

    /** {@code bits(x) + 0x7FFF + lsb} then drop the low half: round to nearest even; NaN keeps its top bits with the quiet bit set. */
    public static short fromFloat(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return (short) ((bits >>> 16) | 0x40);
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }

    /** The float32 a bf16 value stands for (exact). */
    public static float toFloat(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    /**
     * {@code out[r·cols + c] = bf16(scale · in[r·ld + c])} for a {@code rows×cols} block stored with
     * row stride {@code ld} floats; {@code out} is compact (row stride {@code cols} shorts).
     * Parallel over rows.
     */
    public static void convert(MemorySegment out, MemorySegment in, int rows, int cols, int ld, float scale) {
        convert(out, 0, in, 0, rows, cols, ld, scale);
    }

    /**
     * {@link #convert(MemorySegment, MemorySegment, int, int, int, float)} with the block starting
     * {@code inOffset} floats into {@code in} and written from {@code outOffset} shorts into {@code out}.
     */
    public static void convert(MemorySegment out, long outOffset, MemorySegment in, long inOffset, int rows, int cols, int ld, float scale) {
        if (!Simd.ENABLED) {
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    out.setAtIndex(SH, outOffset + (long) r * cols + c, fromFloat(scale * in.getAtIndex(FL, inOffset + (long) r * ld + c)));
                }
            }
            return;
        }
        Convert k = CONVERT.get();
        k.out = out; k.outOffset = outOffset; k.in = in; k.inOffset = inOffset; k.cols = cols; k.ld = ld; k.scale = scale;
        Parallel.forRange(rows, Elementwise.grain(Elementwise.LIGHT_TASK, cols), k);
    }

    private static final class Convert extends Parallel.Task {
        MemorySegment out, in;
        long outOffset, inOffset;
        int cols, ld;
        float scale;

        @Override
        public void run(int r0, int r1) { convertRows(out, outOffset, in, inOffset, r0, r1, cols, ld, scale); }
    }

    private static final Parallel.Tasks<Convert> CONVERT = new Parallel.Tasks<>(Convert::new);

    private static void convertRows(MemorySegment out, long outOffset, MemorySegment in, long inOffset, int r0, int r1, int cols, int ld,
                                    float scale) {
        for (int r = r0; r < r1; r++) {
            long src = inOffset + (long) r * ld, dst = outOffset + (long) r * cols;
            int c = 0;
            for (int bound = F.loopBound(cols); c < bound; c += F.length()) {
                FloatVector x = FloatVector.fromMemorySegment(F, in, (src + c) * Float.BYTES, NATIVE);
                if (scale != 1f) x = x.mul(scale);
                IntVector bits = x.reinterpretAsInts();
                IntVector top = bits.lanewise(VectorOperators.LSHR, 16);
                IntVector rounded = bits.add(top.and(1)).add(0x7FFF).lanewise(VectorOperators.LSHR, 16);
                rounded = rounded.blend(top.or(0x40), x.test(VectorOperators.IS_NAN).cast(I));
                ((ShortVector) rounded.convertShape(VectorOperators.I2S, S, 0)).intoMemorySegment(out, (dst + c) * Short.BYTES, NATIVE);
            }
            for (; c < cols; c++) out.setAtIndex(SH, dst + c, fromFloat(scale * in.getAtIndex(FL, src + c)));
        }
    }

    /** The definition of {@link #convert}. */
    public static void convertScalar(MemorySegment out, MemorySegment in, int rows, int cols, int ld, float scale) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out.setAtIndex(SH, (long) r * cols + c, fromFloat(scale * in.getAtIndex(FL, (long) r * ld + c)));
            }
        }
    }
}
