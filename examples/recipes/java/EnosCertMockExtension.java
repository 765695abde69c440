import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A JUnit 5 extension that runs enos-cert-mock: started once on a free port for the
 * whole test run (stopped when JUnit closes its root store), reset before each test,
 * its base URL injected as a {@code URI} parameter. The binary is $ENOS_MOCK_BIN, else
 * {@code enos-cert-mock} on the PATH.
 *
 * <pre>{@code @ExtendWith(EnosCertMockExtension.class)
 * class MyTest { @Test void t(URI mock) { ... } }}</pre>
 */
public class EnosCertMockExtension implements BeforeEachCallback, ParameterResolver {
    private static final Pattern LISTENING = Pattern.compile("listening on (http://\\S+)");
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /** The running mock; closing it (at the end of the run) stops the process. */
    static final class Mock implements ExtensionContext.Store.CloseableResource {
        final Process process;
        final URI base;

        Mock() throws IOException, InterruptedException {
            String binary = System.getenv().getOrDefault("ENOS_MOCK_BIN", "enos-cert-mock");
            ProcessBuilder builder = new ProcessBuilder(binary, "--port", "0", "--mqtt-tls-port", "0", "--mqtt-port", "0").redirectErrorStream(true);
            builder.environment().put("NO_COLOR", "1");
            process = builder.start();
            BufferedReader log = new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            CompletableFuture<URI> url = new CompletableFuture<>();
            // Reads the log to the end, so that a full pipe never blocks the mock. The mock
            // binds before it logs `listening on`, so the URL is ready when it appears.
            Thread reader = new Thread(() -> {
                try {
                    for (String line; (line = log.readLine()) != null; ) {
                        Matcher m = LISTENING.matcher(line);
                        if (!url.isDone() && m.find()) {
                            url.complete(URI.create(m.group(1)));
                        }
                    }
                } catch (IOException e) {
                    url.completeExceptionally(e);
                }
                url.completeExceptionally(new IllegalStateException("enos-cert-mock exited"));
            });
            reader.setDaemon(true);
            reader.start();
            try {
                base = url.get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                process.destroyForcibly();
                throw new IllegalStateException("enos-cert-mock did not start", e);
            }
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static Mock mock(ExtensionContext context) {
        return context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL)
            .getOrComputeIfAbsent(Mock.class, key -> {
                try {
                    return new Mock();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, Mock.class);
    }

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        HttpRequest reset = HttpRequest.newBuilder(mock(context).base.resolve("/__admin/reset"))
            .POST(HttpRequest.BodyPublishers.noBody()).build();
        int status = HTTP.send(reset, HttpResponse.BodyHandlers.discarding()).statusCode();
        if (status != 200) {
            throw new IllegalStateException("reset answered " + status);
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == URI.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return mock(context).base;
    }
}
