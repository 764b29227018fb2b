package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import leviathan.testing.TestData;
import leviathan.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code train --recipe NAME}: the expansion, the user's flags winning, and every recipe training for real. */
class RecipesTest {
    static final Recipes.Recipe TEN = Recipes.named("speedrun-10m");

    /** The value that {@code option} has in {@code args} (the last one), or null. */
    static String value(String[] args, String option) {
        String v = null;
        for (int i = 0; i < args.length - 1; i++) if (args[i].equals(option)) v = args[i + 1];
        return v;
    }

    @Test
    void aRecipeExpandsToItsFlagsAndTheUsersFlagsWin() {
        String[] plain = {"train", "--recipe", "speedrun-10m"};
        String[] e = Recipes.expand(plain);
        List<String> want = new ArrayList<>(List.of("train"));
        want.addAll(TEN.flags());
        want.addAll(List.of("--recipe", "speedrun-10m"));
        assertEquals(want, List.of(e));
        assertEquals("10m", value(e, "--time"), "the 10-minute recipe carries its budget");

        // a flag given beside the recipe replaces the recipe's; --steps replaces its --time
        String lrOption = TEN.flags().contains("--lr") ? "--lr" : "--seed";
        String[] mine = Recipes.expand(new String[] {"train", "--recipe=speedrun-10m", lrOption, "7", "--steps", "3"});
        assertEquals(1, List.of(mine).stream().filter(lrOption::equals).count(), List.of(mine).toString());
        assertEquals("7", value(mine, lrOption));
        assertEquals(null, value(mine, "--time"), "--steps replaces the recipe's --time: " + List.of(mine));
        assertEquals("3", value(mine, "--steps"));

        String[] other = {"sample", "--recipe", "x"};
        assertArrayEquals(other, Recipes.expand(other), "only train has recipes");
        String[] none = {"train", "--steps", "2"};
        assertArrayEquals(none, Recipes.expand(none));
    }

    @Test
    void anUnknownRecipeOrOneBesideResumeIsRefusedWithTheNames() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Recipes.expand(new String[] {"train", "--recipe", "fast"}));
        assertEquals("no recipe called 'fast'; known: " + Recipes.names(), e.getMessage());
        assertTrue(Recipes.names().contains("speedrun-10m"));
        e = assertThrows(IllegalArgumentException.class, () -> Recipes.expand(new String[] {"train", "--recipe", "speedrun-10m", "--resume", "runs/x"}));
        assertTrue(e.getMessage().contains("--resume"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Recipes.Recipe("odd", List.of("--lr"), "x"));
        assertThrows(IllegalArgumentException.class, () -> new Recipes.Recipe("flag", List.of("--overwrite", "--lr"), "x"));
    }

    @Test
    void helpListsTheRecipes() {
        String usage = Main.commandLine(new String[] {"train"}).getSubcommands().get("train").getUsageMessage(CommandLine.Help.Ansi.OFF);
        for (Recipes.Recipe r : Recipes.ALL) assertTrue(usage.contains(r.name()), usage);
    }

    /** Every recipe trains (2 steps here, its model and flags as they are) and config.json records its flags. */
    @Test
    void everyRecipeTrainsWithItsFlags(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(20_000, 3));
        for (Recipes.Recipe r : Recipes.ALL) {
            Path out = dir.resolve(r.name());
            String[] args = Recipes.expand(new String[] {"train", "--recipe", r.name(), "--steps", "2", "--eval-interval", "2",
                    "--eval-batches", "1", "--sample-tokens", "0", "--data", data.toString(), "--out", out.toString()});
            PrintStream old = System.out;
            ByteArrayOutputStream printed = new ByteArrayOutputStream();
            int code;
            try {
                System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
                code = Main.commandLine(args).execute(args);
            } finally {
                System.setOut(old);
            }
            String text = printed.toString(StandardCharsets.UTF_8);
            assertEquals(0, code, text);
            assertTrue(text.startsWith("recipe " + r.name() + ": " + r.line()), text);
            TrainConfig c = TrainConfig.fromJson(Files.readString(out.resolve("config.json")));
            String json = Files.readString(out.resolve("config.json"));
            assertEquals(2, c.schedule().steps(), json);
            for (int i = 0; i < r.flags().size(); i += 2) {
                String opt = r.flags().get(i), v = r.flags().get(i + 1);
                if (opt.equals("--time")) continue;                     // --steps 2 replaced it
                assertFalse(v.isEmpty());
                String key = opt.substring(2).replace('-', '_');
                // the recipe's value, not the default's, is what the run recorded
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + key + "\": (?:\"([^\"]*)\"|([^,\n]*))").matcher(json);
                assertTrue(m.find(), key + " recorded in " + json);
                assertEquals(v, m.group(1) != null ? m.group(1) : m.group(2), key + " in " + json);
            }
        }
    }
}
