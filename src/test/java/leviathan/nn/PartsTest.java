package leviathan.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import leviathan.model.GptConfig;
import leviathan.train.TrainConfig;
import org.junit.jupiter.api.Test;

/** The part registry: options declared once drive validation, defaults and hybrid stacks. */
class PartsTest {

    @Test
    void everyDeclaredBoundIsEnforcedWithTheFlagNamed() {
        for (PartOption o : Parts.options().values()) {
            if (!Double.isNaN(o.min())) {
                String below = o.type() == PartOption.Type.INTEGER ? Long.toString((long) o.min() - 1) : Double.toString(o.min() - 0.5);
                var e = assertThrows(IllegalArgumentException.class, () -> Parts.check(Map.of(o.key(), below)), o.key());
                assertTrue(e.getMessage().contains(o.flag()), e.getMessage());
            }
            if (o.type() != PartOption.Type.CHOICE) {
                var e = assertThrows(IllegalArgumentException.class, () -> Parts.check(Map.of(o.key(), "x1")), o.key());
                assertTrue(e.getMessage().contains(o.flag()) && e.getMessage().contains("x1"), e.getMessage());
            }
            if (o.defaultValue() != null) assertEquals(o.check(o.defaultValue()), Parts.check(Map.of(o.key(), o.defaultValue())).get(o.key()));
        }
        var unknown = assertThrows(IllegalArgumentException.class, () -> Parts.check(Map.of("lagz", "4")));
        assertTrue(unknown.getMessage().contains("lagz"), unknown.getMessage());
    }

    @Test
    void aConfigRecordsEveryOptionOfItsPartsAtItsDeclaredDefault() {
        Map<String, String> o = TrainConfig.builder().attention("correlation").mlp("moe").build().model().options();
        for (PartType<?> t : new PartType<?>[] {Parts.mixers().get("correlation"), Parts.mlps().get("moe")}) {
            for (PartOption opt : t.options()) assertTrue(o.containsKey(opt.key()), opt.key() + " missing from " + o);
        }
        assertEquals("4", o.get("lags"));
        assertEquals("8", o.get("n_expert"));
        assertEquals("256", o.get("expert_hidden"));                 // computed by the part: 4·128/top_k 2
    }

    @Test
    void hybridStacksTakeOneKindPerLayerAndEachLayerItsOwnOptions() {
        var mixers = Parts.mixerStack("involution, involution,dot,correlation", 4, Map.of("lags", "2", "window", "8"));
        assertEquals(4, mixers.size());
        assertEquals(Map.of("window", "8"), mixers.get(0).options());
        assertEquals(Map.of(), mixers.get(2).options());
        assertEquals(Map.of("lags", "2"), mixers.get(3).options());
        GptConfig c = new GptConfig(10, 16, 4, 2, 16, mixers, null);
        assertEquals("involution,involution,dot,correlation", c.attention());
        assertEquals(2, c.lags());
        assertTrue(c.hybrid());
        GptConfig same = new GptConfig(10, 16, 2, 2, 16, Parts.mixerStack("dot,dot", 2, Map.of()), null);
        assertEquals("dot", same.attention());
        assertEquals(1, same.mixers().size(), "one spec stands for layers that agree");
        assertEquals(same, new GptConfig(10, 16, 2, 2, 16, Parts.mixerStack("dot", 2, Map.of()), null));
        assertEquals(1, Parts.mixerStack("correlation", Integer.MAX_VALUE, Map.of()).size(), "any n_layer costs O(1)");
        var e = assertThrows(IllegalArgumentException.class, () -> Parts.mixerStack("dot,dot,dot", 4, Map.of()));
        assertTrue(e.getMessage().contains("3 kinds") && e.getMessage().contains("4 layers"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Parts.mixerStack("dot,,dot,dot", 4, Map.of()));
    }
}
