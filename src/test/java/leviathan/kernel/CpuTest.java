package leviathan.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import org.junit.jupiter.api.Test;

class CpuTest {
    private static final String CPUINFO = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            model name\t: AMD EPYC 7571
            flags\t\t: fpu sse4_1 avx avx2 fma
            processor\t: 1
            model name\t: another
            flags\t\t: fpu
            """;

    @Test
    void theFirstProcessorsModelAndFlags() {
        assertEquals("AMD EPYC 7571", Cpu.field(CPUINFO, "model name"));
        assertEquals(Set.of("fpu", "sse4_1", "avx", "avx2", "fma"), Cpu.parseFlags(CPUINFO));
        assertEquals("", Cpu.field("", "model name"));
        assertTrue(Cpu.parseFlags("").isEmpty());
    }

    /** The tiles fit the register budget: accumulators, operand vectors and a broadcast. */
    @Test
    void defaultTilesFitTheRegisterBudget() {
        int regs = Simd.registers();
        assertTrue(regs == 16 || regs == 32, "registers " + regs);
        assertTrue(2 * MatmulKernel.MR + 2 + 1 <= regs, "GEMM tile of " + MatmulKernel.MR + " rows x 2 vectors with " + regs + " registers");
        int v = CorrelationTiles.DEFAULT_VECTORS;
        assertTrue(4 * v + v + 1 <= regs, "correlation tile of 4 rows x " + v + " vectors with " + regs + " registers");
        if ("16".equals(System.getProperty(Cpu.REGISTERS_PROPERTY))) assertEquals(16, regs);
    }
}
