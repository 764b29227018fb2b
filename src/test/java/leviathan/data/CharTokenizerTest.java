package leviathan.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class CharTokenizerTest {

    @Test
    void vocabularyIsTheSortedDistinctCodePoints() {
        CharTokenizer t = CharTokenizer.fromText("hello, world\n");
        assertEquals("\n ,dehlorw", t.vocab());
        assertEquals(0, t.tokenOf('\n'));
        assertArrayEquals(new int[] {5, 4, 6, 6, 7}, t.encode("hello"));
        assertEquals("hello, world\n", t.decode(t.encode("hello, world\n")));
    }

    @Test
    void codePointsOutsideTheBmpAreOneToken() {
        CharTokenizer t = CharTokenizer.fromText("a\uD83D\uDE00b");
        assertEquals(3, t.vocabSize());
        assertEquals(3, t.encode("a\uD83D\uDE00b").length);
        assertEquals("\uD83D\uDE00", t.decode(2));
    }

    @Test
    void unknownCharacterNamesTheCharacterAndPosition() {
        CharTokenizer t = CharTokenizer.fromText("abc\n");
        var e = assertThrows(CharTokenizer.UnknownCharacterException.class, () -> t.encode("ab\nxa"));
        assertEquals('x', e.codePoint);
        assertEquals(3, e.position);
        assertTrue(e.getMessage().contains("'x' U+0078") && e.getMessage().contains("line 2, column 1"), e.getMessage());
        assertArrayEquals(t.encode("ab\na"), t.encode("ab\nxa", true));
    }

    @Test
    void storedVocabularyMustBeSortedAndDistinct() {
        assertEquals("abc", CharTokenizer.fromVocab("abc").vocab());
        assertThrows(IllegalArgumentException.class, () -> CharTokenizer.fromVocab("acb"));
        assertThrows(IllegalArgumentException.class, () -> CharTokenizer.fromVocab("aab"));
        assertThrows(IllegalArgumentException.class, () -> CharTokenizer.fromVocab(""));
    }

    @Test
    void tinyShakespeareHas65CharactersAndTheSpecSplit() throws Exception {
        Path f = Path.of("..", "shared", "data", "tinyshakespeare.txt");
        Assumptions.assumeTrue(Files.isRegularFile(f), "Tiny Shakespeare not at ../shared/data: skipped");
        String text = TextDataset.readUtf8(f);
        CharTokenizer t = CharTokenizer.fromText(text);
        assertEquals(65, t.vocabSize());
        TextDataset d = new TextDataset("tinyshakespeare", t.encode(text));
        assertEquals(1_003_854, d.tokens(TextDataset.Split.TRAIN).length);   // floor(0.9 · 1,115,394)
        assertEquals(1_115_394 - 1_003_854, d.tokens(TextDataset.Split.VAL).length);
    }

    @Test
    void invalidUtf8IsAClearError(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.txt");
        Files.write(f, new byte[] {'a', 'b', (byte) 0xC3, (byte) 0x28});
        var e = assertThrows(java.io.IOException.class, () -> TextDataset.readUtf8(f));
        assertTrue(e.getMessage().contains("not valid UTF-8"), e.getMessage());
    }
}
