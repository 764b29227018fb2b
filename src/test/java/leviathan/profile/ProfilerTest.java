package leviathan.profile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The timer bookkeeping: nesting gives total and self times; a mismatched end fails; the report lists what ran. */
class ProfilerTest {

    @Test
    void offByDefault() {
        assertFalse(Profiler.ENABLED, "tests run without -Dleviathan.profile");
    }

    @Test
    void nestedSectionsSplitSelfAndTotal() {
        Profiler.Section outer = Profiler.section("test outer"), inner = Profiler.section("test inner");
        Profiler.Stack st = new Profiler.Stack();
        st.push(outer, 0);
        st.push(inner, 10);
        st.pop(inner, 30, 1000);
        st.push(inner, 40);
        st.pop(inner, 45, 0);
        st.pop(outer, 100, 0);
        assertEquals(100, outer.totalNs.sum());
        assertEquals(75, outer.selfNs.sum());              // 100 minus the inner 20 + 5
        assertEquals(25, inner.totalNs.sum());
        assertEquals(25, inner.selfNs.sum());
        assertEquals(2, inner.calls.sum());
        assertEquals(1000, inner.flops.sum());
        assertTrue(outer.outermost);
        assertFalse(inner.outermost);
        String md = Profiler.report(true);
        assertTrue(md.contains("| test outer |") && md.contains("| test inner |"), md);
        assertTrue(md.contains("(outside every section)"), md);
        Profiler.reset();
        assertEquals(0, outer.totalNs.sum());
        assertFalse(Profiler.report(false).contains("test outer"), "sections that did not run since the reset are left out");
    }

    @Test
    void endMustMatchBegin() {
        Profiler.Section a = Profiler.section("test a"), b = Profiler.section("test b");
        Profiler.Stack st = new Profiler.Stack();
        st.push(a, 0);
        var e = assertThrows(IllegalStateException.class, () -> st.pop(b, 1, 0));
        assertTrue(e.getMessage().contains("end(test b) does not match begin(test a)"), e.getMessage());
        for (int i = 0; i < 100; i++) st.push(b, i);      // deeper than the initial 32: grows
        for (int i = 0; i < 100; i++) st.pop(b, 200, 0);
        st.pop(a, 300, 0);
        assertEquals(300, a.totalNs.sum());
    }
}
