// What Java 17's SSLSocket sees when the mock's broker refuses its client certificate
// (tests/it/mqtt_tls_java.rs): it completes its side of the TLS 1.3 handshake, writes an
// MQTT CONNECT at once, as a device does, then reads. It prints one line: the exception
// the read or write raised, or what was read.
//
//   java TlsAlert.java HOST PORT ROOT.pem CERT.pem KEY.pem(PKCS#8)
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class TlsAlert {
    static Certificate cert(String path) throws Exception {
        return CertificateFactory.getInstance("X.509")
            .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(Path.of(path))));
    }

    static PrivateKey key(String path) throws Exception {
        String pem = Files.readString(Path.of(path));
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(body));
        try {
            return KeyFactory.getInstance("EC").generatePrivate(spec);
        } catch (Exception e) {
            return KeyFactory.getInstance("RSA").generatePrivate(spec);
        }
    }

    public static void main(String[] args) throws Exception {
        char[] pass = "changeit".toCharArray();
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("root", cert(args[2]));
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("device", key(args[4]), pass, new Certificate[] {cert(args[3])});
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, pass);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        // An MQTT 3.1.1 CONNECT with client id "java".
        byte[] connect = {0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 'j', 'a', 'v', 'a'};
        try (SSLSocket socket = (SSLSocket) ctx.getSocketFactory().createSocket(args[0], Integer.parseInt(args[1]))) {
            socket.setSoTimeout(10000);
            socket.startHandshake();
            OutputStream out = socket.getOutputStream();
            out.write(connect);
            out.flush();
            InputStream in = socket.getInputStream();
            int first = in.read();
            System.out.println("read " + first);
        } catch (Exception e) {
            System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }
}
