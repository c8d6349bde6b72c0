package ferry;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The oracle: loads {@code _metadata} files with Flink's own loader
 * ({@code Checkpoints.loadCheckpointMetadata}) and prints what Flink sees, in a line format
 * that {@code cargo xtask oracle} also produces from ferry's decoder and compares as a sorted
 * multiset.
 *
 * <pre>
 * java … ferry.Oracle DIR [DIR…]      each DIR holds a _metadata; it is also the external pointer
 * </pre>
 *
 * Output per DIR:
 * <pre>
 * == DIR
 * checkpoint ID
 * operator HEX parallelism=P max_parallelism=M [uid=U] [name=N]
 * HEX file PATH SIZE           FileStateHandle / RelativeFileStateHandle (path as Flink resolves it)
 * HEX segment PATH START SIZE  SegmentFileStateHandle (file merging)
 * HEX empty-segment            EmptySegmentFileStateHandle
 * HEX dir PATH                 DirectoryStreamStateHandle (file-merging managed directories)
 * HEX inline NAME LENGTH       ByteStreamStateHandle
 * == end
 * </pre>
 * or {@code !! error MESSAGE} when Flink cannot load the file. Handles are found by walking the
 * fields of the loaded state objects reflectively, so the same code works on Flink 1.10 … 2.3.
 */
public final class Oracle {
    private Oracle() {}

    public static void main(String[] args) throws Exception {
        for (String dir : args) {
            System.out.println("== " + dir);
            try {
                dump(dir);
            } catch (Throwable t) {
                Throwable root = t;
                while (root.getCause() != null && root.getCause() != root) {
                    root = root.getCause();
                }
                System.out.println("!! error " + String.valueOf(root).replace('\n', ' '));
            }
            System.out.println("== end");
        }
        System.out.flush();
        System.exit(0);
    }

    private static Object load(String dir) throws Exception {
        File f = new File(dir, "_metadata");
        String pointer = new Path(new File(dir).getAbsoluteFile().toURI()).toString();
        if (pointer.endsWith("/")) {
            pointer = pointer.substring(0, pointer.length() - 1);
        }
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(f)))) {
            ClassLoader cl = Oracle.class.getClassLoader();
            try {
                Method m = Checkpoints.class.getMethod(
                        "loadCheckpointMetadata", DataInputStream.class, ClassLoader.class, String.class);
                return m.invoke(null, in, cl, pointer);
            } catch (NoSuchMethodException e) {
                Method m = Checkpoints.class.getMethod(
                        "loadCheckpointMetadata", DataInputStream.class, ClassLoader.class);
                return m.invoke(null, in, cl);
            }
        }
    }

    private static void dump(String dir) throws Exception {
        Object md = load(dir);
        List<String> out = new ArrayList<>();
        out.add("checkpoint " + call(md, "getCheckpointId"));
        Collection<?> ops = (Collection<?>) call(md, "getOperatorStates");
        for (Object op : ops) {
            String id = String.valueOf(call(call(op, "getOperatorID"), "toHexString"));
            StringBuilder line = new StringBuilder("operator ").append(id)
                    .append(" parallelism=").append(call(op, "getParallelism"))
                    .append(" max_parallelism=").append(call(op, "getMaxParallelism"));
            String uid = optional(op, "getOperatorUid");
            if (uid != null) {
                line.append(" uid=").append(uid);
            }
            String name = optional(op, "getOperatorName");
            if (name != null) {
                line.append(" name=").append(name);
            }
            out.add(line.toString());
            List<String> leaves = new ArrayList<>();
            Set<Object> stack = Collections.newSetFromMap(new IdentityHashMap<>());
            if (has(op, "getCoordinatorState")) {
                walk(call(op, "getCoordinatorState"), leaves, stack, 0);
            }
            Map<?, ?> subtasks = (Map<?, ?>) call(op, "getSubtaskStates");
            for (Object st : subtasks.values()) {
                walk(st, leaves, stack, 0);
            }
            for (String l : leaves) {
                out.add(id + " " + l);
            }
        }
        for (String l : out) {
            System.out.println(l);
        }
    }

    private static boolean has(Object o, String method) {
        try {
            o.getClass().getMethod(method);
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    private static Object call(Object o, String method) throws Exception {
        Method m = o.getClass().getMethod(method);
        m.setAccessible(true);
        return m.invoke(o);
    }

    private static String optional(Object o, String method) throws Exception {
        if (!has(o, method)) {
            return null;
        }
        Object v = call(o, method);
        if (v instanceof Optional) {
            v = ((Optional<?>) v).orElse(null);
        }
        return v == null ? null : v.toString();
    }

    private static boolean isA(Object o, String simpleName) {
        for (Class<?> c = o.getClass(); c != null; c = c.getSuperclass()) {
            if (c.getSimpleName().equals(simpleName)) {
                return true;
            }
        }
        return false;
    }

    private static void walk(Object o, List<String> out, Set<Object> stack, int depth) throws Exception {
        if (o == null || depth > 64) {
            return;
        }
        if (o instanceof Optional) {
            walk(((Optional<?>) o).orElse(null), out, stack, depth + 1);
            return;
        }
        if (o instanceof Collection) {
            for (Object e : (Collection<?>) o) {
                walk(e, out, stack, depth + 1);
            }
            return;
        }
        if (o instanceof Map) {
            for (Object e : ((Map<?, ?>) o).values()) {
                walk(e, out, stack, depth + 1);
            }
            return;
        }
        Class<?> c = o.getClass();
        if (c.isArray()) {
            if (!c.getComponentType().isPrimitive()) {
                for (int i = 0; i < Array.getLength(o); i++) {
                    walk(Array.get(o, i), out, stack, depth + 1);
                }
            }
            return;
        }
        if (!c.getName().startsWith("org.apache.flink.")) {
            return;
        }
        if (isA(o, "EmptySegmentFileStateHandle")) {
            out.add("empty-segment");
            return;
        }
        if (isA(o, "SegmentFileStateHandle")) {
            out.add("segment " + call(o, "getFilePath") + " " + call(o, "getStartPos") + " "
                    + call(o, "getStateSize"));
            return;
        }
        if (isA(o, "FileStateHandle")) {
            out.add("file " + call(o, "getFilePath") + " " + call(o, "getStateSize"));
            return;
        }
        if (isA(o, "ByteStreamStateHandle")) {
            out.add("inline " + call(o, "getHandleName") + " " + ((byte[]) call(o, "getData")).length);
            return;
        }
        if (isA(o, "DirectoryStreamStateHandle")) {
            out.add("dir " + call(o, "getDirectory"));
            return;
        }
        if (!stack.add(o)) {
            return;
        }
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            for (Field f : k.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()) {
                    continue;
                }
                f.setAccessible(true);
                walk(f.get(o), out, stack, depth + 1);
            }
        }
        stack.remove(o);
    }
}
