package leviathan.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SplitMixTest {
    @Test
    void drawsWhatSplittableRandomDraws() {
        int[] intBounds = {1, 2, 3, 7, 64, 1000, 1_003_789, (1 << 30) + 1, Integer.MAX_VALUE};
        long[] longBounds = {1, 5, 1L << 31, (1L << 31) + 3, 3_000_000_007L, Long.MAX_VALUE};
        SplitMix mine = new SplitMix(0);
        for (long seed : new long[] {0, 1, 1337, -5, 1337 * 0x9E3779B97F4A7C15L + (12L << 16) + 3, Long.MIN_VALUE}) {
            SplittableRandom jdk = new SplittableRandom(seed);
            mine.reset(seed);
            for (int i = 0; i < 2000; i++) {
                int ib = intBounds[i % intBounds.length];
                long lb = longBounds[i % longBounds.length];
                switch (i % 5) {
                    case 0 -> assertEquals(jdk.nextInt(ib), mine.nextInt(ib), "seed " + seed + " draw " + i);
                    case 1 -> assertEquals(jdk.nextLong(lb), mine.nextLong(lb), "seed " + seed + " draw " + i);
                    case 2 -> assertEquals(jdk.nextInt(), mine.nextInt());
                    case 3 -> assertEquals(Double.doubleToRawLongBits(jdk.nextDouble()), Double.doubleToRawLongBits(mine.nextDouble()));
                    default -> assertEquals(jdk.nextLong(), mine.nextLong());
                }
            }
        }
    }
}
